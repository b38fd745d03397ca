"""Data parallelism with `jax.sharding`: a 1-D mesh over all devices, batch sharded, parameters replicated.

Single host: every device of the process is on the mesh axis "data"; every entry of a global
batch (inputs, targets, padding mask, eval weights: [B, ...]) is split along B (B must be
divisible by the number of devices) and the model and optimiser state are replicated. Under
`jit` XLA inserts the all-reduce of the gradients, so the loss trajectory equals the one-device
trajectory up to the order of floating-point sums.

Multi-process: `initialize_distributed()` (see `ssmlab.train.distributed`) calls
`jax.distributed.initialize()` when asked (`TrainConfig.distributed`, `ssmlab train --distributed`,
or SSMLAB_DISTRIBUTED=1); `jax.devices()` then lists the devices of every process and the mesh
spans them all. Process p of P loads rows [p*b, (p+1)*b) of every global batch of B = P*b
examples (`local_shard`, `ArrayDataset.batches`), and `global_batch` assembles the global array
from the local pieces with `jax.make_array_from_process_local_data`. The global batch of step s
is therefore the same examples in the same order for every process count, so the run (and a
checkpoint of it) does not depend on how many processes trained it.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .distributed import distributed_requested as distributed_requested
from .distributed import initialize_distributed as initialize_distributed

AXIS = "data"


def data_mesh() -> Mesh:
    """1-D mesh named "data" over all devices of all processes."""
    return Mesh(np.asarray(jax.devices()), (AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over the mesh, other axes whole."""
    return NamedSharding(mesh, PartitionSpec(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """Same full array on every device."""
    return NamedSharding(mesh, PartitionSpec())


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """The global batch must split evenly over the devices (and the processes)."""
    n = mesh.devices.size
    if batch_size % n:
        raise ValueError(f"batch_size={batch_size} is not divisible by the {n} devices of the data mesh; "
                         f"use a multiple of {n} (e.g. --set batch_size={n * max(1, batch_size // n)}).")


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place every array leaf of `tree` on all devices (parameters, optimiser and norm state)."""
    sharding = replicated(mesh)
    return jax.tree_util.tree_map(lambda x: jax.device_put(x, sharding) if isinstance(x, jax.Array) else x, tree)


def local_shard() -> tuple[int, int]:
    """(shard_index, num_shards) of this process for `ArrayDataset.batches`."""
    return jax.process_index(), jax.process_count()


def global_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Assemble this process's part of a batch into global arrays sharded along the batch axis.

    Every entry is sharded the same way, so a padding "mask" [B, L] (and eval weights "w") stays
    aligned with "x" and "y" on each device.
    """
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}
