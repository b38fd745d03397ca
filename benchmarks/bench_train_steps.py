"""Training steps per second of each sequence layer inside the same stacked model, side by side.

One case per size: a full optimiser step (forward, backward, AdamW update with parameter groups)
of a 2-block `SequenceModel` on a random batch [B, L, 1] with 10 classes, for every registered
layer among lru, s4d, stu, ar_stu, linear_ssm, timed interleaved by the harness. There is no
shared output to compare (the layers differ), so the correctness check is that every loss is finite.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from benchmarks.harness import compare
from ssmlab.data.dataset import ArrayDataset, Task
from ssmlab.layers import layer_names
from ssmlab.train.config import TrainConfig
from ssmlab.train.loop import _make_steps, build_model
from ssmlab.train.optim import make_optimizer, trainable

LAYERS = ("lru", "s4d", "stu", "ar_stu", "linear_ssm")


def _step_fn(layer: str, *, B: int, L: int, H: int):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, L, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=B).astype(np.int32)
    task = Task(name="bench", train=ArrayDataset(x, y), test=ArrayDataset(x, y), input_kind="real", num_classes=10,
                seq_len=L, input_dim=1)
    cfg = dataclasses.replace(TrainConfig(model=layer, depth=2, d_model=H, batch_size=B),
                              state_size=32 if layer in ("lru", "s4d", "linear_ssm") else 0)
    model, state = build_model(cfg, task, jr.key(0))
    opt = make_optimizer(cfg, model, total_steps=1000)
    opt_state = opt.init(eqx.filter(model, trainable(model)))
    train_step, _ = _make_steps(opt)
    xs, ys, key = jnp.asarray(x), jnp.asarray(y), jr.key(1)
    return lambda: train_step(model, state, opt_state, xs, ys, key)[3]


def main(full: bool = False) -> None:
    """Steps/s per layer at (B, L, H) = (16, 128, 64) on CPU, or (32, 1024, 128) with --full."""
    sizes = [(32, 1024, 128)] if full else [(16, 128, 64)]
    layers = [name for name in LAYERS if name in layer_names()]
    for B, L, H in sizes:
        variants = {name: _step_fn(name, B=B, L=L, H=H) for name in layers}
        rows = compare(f"train_step B{B} L{L} H{H}", variants, reference="lru", repeats=5 if full else 10,
                       check=lambda out, ref: 0.0 if bool(jnp.isfinite(out)) else float("inf"), tol=0.0,
                       params={"B": B, "L": L, "H": H, "depth": 2, "device": str(jax.devices()[0])})
        for r in rows:
            print(f"  {r['variant']:<12} {1e3 / r['t_med_ms']:8.2f} steps/s  {B * 1e3 / r['t_med_ms']:10.1f} seq/s")


if __name__ == "__main__":
    main()
