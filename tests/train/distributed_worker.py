"""One process of a multi-process training run, started by tests/train/test_distributed.py.

Usage: python distributed_worker.py RUN_DIR PARAMS_FILE [max_steps] [resume]. Multi-process settings
come from the SSMLAB_* environment (SSMLAB_DISTRIBUTED=1, SSMLAB_COORDINATOR, ...). The worker
trains a tiny linear SSM (batch norm, dropout, padded inputs) on fixed random data, counts the atomic
file writes this process made, saves the final model and norm state it holds to PARAMS_FILE and
prints one JSON line: process index and count, global devices, writes, losses of the steps it ran.
"""

import json
import sys
from pathlib import Path

import jax
import numpy as np

import ssmlab._atomic as atomic
from ssmlab.data.dataset import ArrayDataset, Task
from ssmlab.layers import LinearSSMSpec
from ssmlab.train.config import TrainConfig
from ssmlab.train.loop import train

WRITES = []
_open = atomic.atomic_open


def _counting_open(path):
    WRITES.append(Path(path).name)
    return _open(path)


def task() -> Task:
    """32 padded sequences of length 8 (3 input channels), 3 classes; 12 test and 4 validation examples."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 8, 3)).astype(np.float32)
    lengths = rng.integers(3, 9, 48)
    y = (x[:, :3, 0].sum(axis=1) > 0).astype(np.int32) + (x[:, 0, 1] > 1).astype(np.int32)
    part = lambda a, b: ArrayDataset(x[a:b], y[a:b], lengths=lengths[a:b])  # noqa: E731
    return Task(name="toy", train=part(0, 32), test=part(32, 44), validation=part(44, 48), input_kind="real",
                num_classes=3, seq_len=8, input_dim=3)


def main(run_dir: str, params_file: str, max_steps: str = "0", resume: str = "") -> None:
    atomic.atomic_open = _counting_open
    losses = []
    cfg = TrainConfig(task="toy", layer=LinearSSMSpec(state_size=4), depth=1, d_model=4, norm="batch", dropout=0.1,
                      batch_size=8, epochs=2, lr=2e-2, progress=False, log_every=1, max_steps=int(max_steps))
    res = train(cfg, run_dir, task=task(), resume=resume == "resume",
                callback=lambda step, loss: losses.append((step, loss)))
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves((res.model, res.state)) if isinstance(x, jax.Array)]
    np.savez(params_file, *leaves)
    print(json.dumps({"process": jax.process_index(), "processes": jax.process_count(),
                      "devices": jax.device_count(), "writes": WRITES, "losses": losses}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
