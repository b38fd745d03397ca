"""Equinox sequence layers. Importing this package registers every layer by name."""

import importlib
import pkgutil

from .base import AbstractSequenceLayer as AbstractSequenceLayer
from .base import layer_names as layer_names
from .base import make_layer as make_layer
from .base import register_layer as register_layer
from .linear_ssm import LinearSSM as LinearSSM

# Every module in this package registers its layers on import; load them all so the
# registry is complete however the package is imported.
for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
