"""One dataset interface for every task: arrays in memory, numpy batches out.

* `ArrayDataset(x, y, lengths=None)`: deterministic shuffling keyed by (seed, epoch), fixed-size
  batches, and sharding by (shard_index, num_shards) so each host reads a disjoint slice. Padded data
  records each example's valid length; its batches then carry a bool `"mask"` [batch, L], True at the
  valid positions 0..length-1 (padding always sits at the end of the time axis).
* `Task`: a named train/test pair plus what a model needs to know (input kind, vocabulary,
  number of classes, sequence length, pooling, output width), the name of its training objective
  (`ssmlab.train.objectives`: "classification", "next_token", "per_step_regression") and a validation
  split. `with_validation(task)` holds out a seeded 10 % of train when the data has none (the training
  loop does this), so model selection never sees the test set.
* A task registry: `register_task(name)(factory)`, `make_task(name, **options)`, `task_names()`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Literal

import numpy as np


@dataclasses.dataclass(frozen=True)
class ArrayDataset:
    """Inputs `x` [num, L, ...], targets `y` [num, ...] and optional valid lengths, held as numpy arrays.

    `lengths` (integers, 1 <= length <= L) marks `x[i, :lengths[i]]` as data and the rest as padding.
    Its shape is `x.shape[:k]` for some k >= 1 and the time axis is axis k of `x`: [num] for
    [num, L, ...] inputs, [num, 2] for document pairs stacked as [num, 2, L].
    """

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray | None = None

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"x and y must have the same number of examples; got {len(self.x)} and {len(self.y)}.")
        if self.lengths is not None:
            _check_lengths(self.lengths, self.x.shape)
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
        """Yield {'x': [batch_size, ...], 'y': [batch_size, ...]} for one epoch, plus 'mask' if `lengths` is set.

        The mask is bool [batch_size, L] (`lengths.shape[1:]` inserted before L for stacked inputs),
        True at valid positions. The permutation depends only on (seed, epoch), so a resumed run sees
        the same batches. With `num_shards > 1` the permutation is cut into global batches of
        `batch_size * num_shards` examples and shard p gets rows [p*batch_size, (p+1)*batch_size) of each:
        the shards of batch s together are the unsharded batch s, and every shard yields the same number
        of batches (data-parallel processes stay in step; with `drop_last=False` a shard's last batch may
        be short or empty).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"need 0 <= shard_index < num_shards; got {shard_index}, {num_shards}.")
        order = np.arange(len(self))
        if shuffle:
            order = np.random.default_rng([seed, epoch]).permutation(len(self))
        global_size = batch_size * num_shards
        stop = len(order) - (len(order) % global_size if drop_last else 0)
        for start in range(0, stop, global_size):
            idx = order[start:start + global_size][shard_index * batch_size:(shard_index + 1) * batch_size]
            batch = {"x": self.x[idx], "y": self.y[idx]}
            if self.lengths is not None:
                batch["mask"] = np.arange(self.x.shape[self.lengths.ndim]) < self.lengths[idx][..., None]
            yield batch

    def num_batches(self, batch_size: int, *, drop_last: bool = True, num_shards: int = 1) -> int:
        """Number of batches `batches` yields per epoch (the same for every shard)."""
        n, global_size = len(self), batch_size * num_shards
        return n // global_size if drop_last else -(-n // global_size)


def subset(data: ArrayDataset, index: np.ndarray) -> ArrayDataset:
    """The examples `index` of `data` (inputs, targets and lengths)."""
    return ArrayDataset(data.x[index], data.y[index], None if data.lengths is None else data.lengths[index])


VALIDATION_FRACTION = 0.1  # hold-out of train for tasks whose data has no validation split
VALIDATION_SEED = 0  # fixed: the split is part of the data, not of a training seed


def holdout_indices(n: int, fraction: float = VALIDATION_FRACTION,
                    seed: int = VALIDATION_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held out) sorted indices of range(n): a seeded round(fraction·n) (at least 1) held out."""
    if not 0 < fraction < 1:
        raise ValueError(f"the validation fraction must be in (0, 1); got {fraction}.")
    n_val = max(1, int(round(fraction * n)))
    if n - n_val < 1:
        raise ValueError(f"cannot hold out a validation split from {n} training example(s); give the task a "
                         "validation set or more training data.")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def holdout_split(data: ArrayDataset, fraction: float = VALIDATION_FRACTION,
                  seed: int = VALIDATION_SEED) -> tuple[ArrayDataset, ArrayDataset]:
    """(rest, held out) of `data` by `holdout_indices`."""
    rest, held = holdout_indices(len(data), fraction, seed)
    return subset(data, rest), subset(data, held)


def with_validation(task: Task, fraction: float = VALIDATION_FRACTION, seed: int = VALIDATION_SEED) -> Task:
    """`task` itself if it has a validation split, else a copy whose validation is a hold-out of train."""
    if task.validation is not None:
        return task
    train, validation = holdout_split(task.train, fraction, seed)
    return dataclasses.replace(task, train=train, validation=validation)


def _check_lengths(lengths: np.ndarray, x_shape: tuple[int, ...]) -> None:
    """Raise a ValueError naming `lengths` unless it is integer, shaped x_shape[:k], with 1 <= values <= L."""
    if not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be integers (valid steps per example); got dtype {lengths.dtype}.")
    k = lengths.ndim
    if k < 1 or k >= len(x_shape) or lengths.shape != x_shape[:k]:
        raise ValueError(f"lengths must have one entry per example, shape {x_shape[:1]} for x of shape {x_shape} "
                         f"(or x.shape[:k] for stacked inputs); got shape {lengths.shape}.")
    steps = x_shape[k]
    if lengths.size and (lengths.min() < 1 or lengths.max() > steps):
        raise ValueError(f"lengths must lie in 1..{steps} (the time axis of x); got values {lengths.min()}.."
                         f"{lengths.max()}. Give an empty example length 1.")


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
    pooling: Literal["mean", "max", "last", "none"] = "mean"
    validation: ArrayDataset | None = None
    objective: str = ""  # "" = "classification" if num_classes > 0 else "per_step_regression"
    output_dim: int = 0  # model outputs per step/sequence; 0 = num_classes, or input_dim for regression


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


def task_factory(name: str) -> TaskFactory:
    """The factory registered as task `name` (its keyword parameters are the task's options)."""
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {task_names()}.")
    return _TASKS[name]


def make_task(name: str, **options) -> Task:
    """Build the registered task `name`."""
    return task_factory(name)(**options)
