"""Registered experiments, one module per paper result. Importing this package registers them all."""

import importlib
import pkgutil

from .registry import Claim as Claim
from .registry import Experiment as Experiment
from .registry import Result as Result
from .registry import experiments as experiments
from .registry import get as get
from .registry import register as register

_SKIP = {"registry", "runner", "report", "plotting"}
for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _SKIP and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
