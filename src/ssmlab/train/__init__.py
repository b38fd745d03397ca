"""Training: config and presets, optimiser groups, loop, checkpoints, data parallelism, metrics."""

from . import lra_configs as lra_configs  # registers the LRA task presets
from . import presets as presets
from .config import TrainConfig as TrainConfig
from .config import preset as preset
from .config import preset_names as preset_names
from .config import register_preset as register_preset
from .load import LoadedRun as LoadedRun
from .load import load_run as load_run
from .loop import TrainingDiverged as TrainingDiverged
from .loop import TrainResult as TrainResult
from .loop import train as train
from .optim import declare_fields as declare_fields
from .optim import make_optimizer as make_optimizer
from .optim import trainable as trainable
