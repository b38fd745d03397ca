"""Datasets and tasks. Importing this package registers every task module in it."""

import importlib
import pkgutil

from .dataset import ArrayDataset as ArrayDataset
from .dataset import Task as Task
from .dataset import make_task as make_task
from .dataset import register_task as register_task
from .dataset import task_names as task_names

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "dataset" and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
