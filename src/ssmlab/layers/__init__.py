"""Equinox sequence layers. Importing this package registers every layer by name."""

import importlib
import pkgutil

from .base import AbstractSequenceLayer as AbstractSequenceLayer
from .base import layer_names as layer_names
from .base import make_layer as make_layer
from .base import register_layer as register_layer
from .linear_ssm import LinearSSM as LinearSSM
from .linear_ssm import LinearSSMSpec as LinearSSMSpec
from .lru import LRUSpec as LRUSpec
from .mamba import MambaSpec as MambaSpec
from .s4 import S4Spec as S4Spec
from .s4d import S4DSpec as S4DSpec
from .s5 import S5Spec as S5Spec
from .spec import LayerSpec as LayerSpec
from .spec import has_option as has_option
from .spec import layer_spec as layer_spec
from .spec import register_spec as register_spec
from .spec import spec_for as spec_for
from .spec import spec_from_dict as spec_from_dict
from .spec import spec_to_dict as spec_to_dict
from .stu_spec import ARSTUSpec as ARSTUSpec
from .stu_spec import STUSpec as STUSpec

# Every module in this package registers its layers on import; load them all so the
# registry is complete however the package is imported.
for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
