"""One dataset interface for every task: arrays in memory, numpy batches out.

* `ArrayDataset(x, y)`: deterministic shuffling keyed by (seed, epoch), fixed-size batches,
  and sharding by (shard_index, num_shards) so each host reads a disjoint slice.
* `Task`: a named train/test pair plus what a model needs to know (input kind, vocabulary,
  number of classes, sequence length, pooling).
* A task registry: `register_task(name)(factory)`, `make_task(name, **options)`, `task_names()`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Literal

import numpy as np


@dataclasses.dataclass(frozen=True)
class ArrayDataset:
    """Inputs `x` [num, L, ...] and targets `y` [num, ...] held as numpy arrays."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"x and y must have the same number of examples; got {len(self.x)} and {len(self.y)}.")
        if np.issubdtype(self.x.dtype, np.floating) and not np.all(np.isfinite(self.x)):
            raise ValueError("x contains NaN/inf values; clean the data before building a dataset.")
        if np.issubdtype(self.y.dtype, np.floating) and not np.all(np.isfinite(self.y)):
            raise ValueError("y contains NaN/inf values; clean the data before building a dataset.")

    def __len__(self) -> int:
        return len(self.x)

    def batches(
        self,
        batch_size: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        shard_index: int = 0,
        num_shards: int = 1,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Yield {'x': [batch_size, ...], 'y': [batch_size, ...]} for one epoch.

        The permutation depends only on (seed, epoch), so a resumed run sees the same batches.
        With `num_shards > 1` each shard gets every `num_shards`-th example of the permutation.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"need 0 <= shard_index < num_shards; got {shard_index}, {num_shards}.")
        order = np.arange(len(self))
        if shuffle:
            order = np.random.default_rng([seed, epoch]).permutation(len(self))
        order = order[shard_index::num_shards]
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            yield {"x": self.x[idx], "y": self.y[idx]}

    def num_batches(self, batch_size: int, *, drop_last: bool = True, num_shards: int = 1) -> int:
        """Number of batches `batches` yields per epoch for one shard."""
        n = len(range(0, len(self), num_shards))
        return n // batch_size if drop_last else -(-n // batch_size)


@dataclasses.dataclass(frozen=True)
class Task:
    """A named supervised sequence task."""

    name: str
    train: ArrayDataset
    test: ArrayDataset
    input_kind: Literal["real", "tokens"]
    num_classes: int  # 0 for regression
    seq_len: int
    input_dim: int = 1  # channels for real inputs
    vocab_size: int = 0  # for token inputs
    pooling: Literal["mean", "last", "none"] = "mean"
    validation: ArrayDataset | None = None


TaskFactory = Callable[..., Task]
_TASKS: dict[str, TaskFactory] = {}


def register_task(name: str) -> Callable[[TaskFactory], TaskFactory]:
    """Decorator registering a task factory `factory(**options) -> Task` under `name`."""

    def deco(factory: TaskFactory) -> TaskFactory:
        if name in _TASKS and _TASKS[name] is not factory:
            raise ValueError(f"task {name!r} is already registered.")
        _TASKS[name] = factory
        return factory

    return deco


def task_names() -> list[str]:
    """Names of registered tasks."""
    return sorted(_TASKS)


def make_task(name: str, **options) -> Task:
    """Build the registered task `name`."""
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {task_names()}.")
    return _TASKS[name](**options)
