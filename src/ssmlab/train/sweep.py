r"""Sweeps: R runs of one architecture trained together, as one compiled program.

A *sweep* is R runs that differ only in learning rate, data stream (seed) and, optionally, a parameter
mask; their architecture is the same, so their trainable arrays can be stacked along a leading axis R.

Why vmapped: the experiments that need sweeps (the LDS study's learning-rate grids, the filters study's
K grid) train many *small* models on fresh batch-1 sequences. Trained one after another, each run would
pay its own compile and a Python dispatch per step for a few microseconds of arithmetic each. Here every
optimiser step of all R runs is one `jax.vmap` over the runs, and a chunk of T steps is one `lax.scan`
over those steps, so the whole grid is one compiled program called steps / T times: R runs cost one
compile and a few host round trips, and the runs fill the vector units together.

What is shared with the training loop (`train.loop`): the objective objects (`train.objectives`: the
loss that is differentiated and the sums/metrics of an evaluation), the partition of the trainable
arrays (`train.optim.trainable`: frozen arrays are never stacked, differentiated or updated) and the
differentiated step itself (`train.step.loss_and_grad`, `train.step.eval_sums`). What is specific:

* the optimiser is any optax transformation given at unit learning rate; run r's update at step i is
  lr_r · s(i) · (its update), with `schedule` s (constant 1 by default). For Adam/AdamW, whose updates
  are linear in the learning rate, that is exactly the optimiser at learning rate lr_r · s(i); the
  default is plain Adam (`unit_adam`: no weight decay, no clipping). An optimiser that carries its own
  schedule and learning rate (`train.optim.make_optimizer`) is used with lr_r = 1;
* data come as streams: `data(c)` returns chunk c of S per-seed streams, run r reads stream
  `seed_index[r]`; every step is a fresh batch (no epochs);
* a parameter mask per run (`masks[mask_index[r]]`, applied by `mask_fn(model, mask)` before every
  forward pass): e.g. an STU with only its first K filters, trained in the same program as larger K.

A run whose loss becomes NaN/inf keeps going (its numbers stay non-finite); the other runs are unaffected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jaxtyping import Array

from .objectives import PerStepRegression
from .optim import trainable
from .step import Apply, apply_layer, eval_sums, loss_and_grad


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Learning rate, data-stream index and (optional) parameter-mask index of each of the R runs."""

    learning_rates: np.ndarray  # [R]
    seed_index: np.ndarray  # [R] stream of the per-seed data used by run r
    mask_index: np.ndarray | None = None  # [R] row of `masks` applied to run r

    def __post_init__(self):
        lrs, seeds = np.asarray(self.learning_rates), np.asarray(self.seed_index)
        if lrs.shape != seeds.shape or lrs.ndim != 1 or lrs.size == 0:
            raise ValueError("learning_rates and seed_index must be non-empty 1-D arrays of the same length R.")
        if not np.all(lrs > 0):
            raise ValueError(f"learning rates must be > 0; got {lrs}.")
        if self.mask_index is not None and np.asarray(self.mask_index).shape != lrs.shape:
            raise ValueError(f"mask_index must have one entry per run ({lrs.size}); got shape "
                             f"{np.asarray(self.mask_index).shape}.")

    @property
    def num_runs(self) -> int:
        """R, the number of runs trained together."""
        return int(np.asarray(self.learning_rates).shape[0])


def grid_sweep(learning_rates, num_seeds: int) -> Sweep:
    """All (learning rate, seed) pairs, learning rate major: run r = i_lr * num_seeds + i_seed."""
    lrs = np.asarray(learning_rates, dtype=np.float64)
    return Sweep(np.repeat(lrs, num_seeds), np.tile(np.arange(num_seeds), lrs.size))


def stack_runs(models: list[eqx.Module]):
    """(stacked trainable arrays [R, ...], shared static part) of R models with the same structure."""
    parts = [eqx.partition(m, trainable(m)) for m in models]
    statics = {jax.tree_util.tree_structure(p) for p, _ in parts}
    if len(statics) != 1:
        raise ValueError("the models of a sweep must have one structure (same layer, sizes and static options); "
                         "train differently built models in separate sweeps.")
    params = jax.tree.map(lambda *xs: jnp.stack(xs), *[p for p, _ in parts])
    return params, parts[0][1]


def unstack_run(params, static, r: int) -> eqx.Module:
    """Model number r of a stacked sweep."""
    return eqx.combine(jax.tree.map(lambda x: x[r], params), static)


def unit_adam() -> optax.GradientTransformation:
    """Adam at learning rate 1 (the sweep scales run r's update by lr_r), no weight decay, no clipping."""
    return optax.chain(optax.scale_by_adam(), optax.scale(-1.0))


def cosine_to_zero(steps: int) -> Callable[[Array], Array]:
    """Schedule s(i) = ½(1 + cos(π i / steps)): cosine decay from 1 at step 0 to 0 at `steps`."""
    return lambda i: 0.5 * (1.0 + jnp.cos(jnp.pi * i / steps))


@dataclasses.dataclass
class SweepResult:
    """Trained stacked arrays, per-step training losses [steps, R] and evaluations [E, R] per metric.

    `evals[name][e, r]` is the objective's metric `name` of run r on the evaluation set after
    `eval_steps[e]` steps (0, k, 2·k, ..., steps with k = chunk · eval_every); empty without evaluation data.
    """

    params: Any
    static: Any
    losses: np.ndarray
    eval_steps: list[int]
    evals: dict[str, np.ndarray]

    def model(self, r: int) -> eqx.Module:
        """Trained model of run r (its parameter mask, if any, is not applied)."""
        return unstack_run(self.params, self.static, r)


def _masked(apply: Apply, mask_fn: Callable | None, pmask) -> Apply:
    if mask_fn is None:
        return apply
    return lambda model, state, x, **kw: apply(mask_fn(model, pmask), state, x, **kw)


def make_chunk_trainer(static, objective, optimizer: optax.GradientTransformation, *, apply: Apply = apply_layer,
                       mask_fn: Callable | None = None, schedule: Callable | None = None):
    """A jitted function training the stacked runs for a chunk of steps.

    `chunk(params [R,...], states [R,...], opt_state [R,...], lrs [R], run_masks [R,...] or None,
    seed_index [R], batches, step0) -> (params, states, opt_state, losses [T, R])`; `batches` is a dict
    of arrays [T, S, B, ...] ("x", "y", optional "mask"), and step t of run r uses batch [t, seed_index[r]].
    """

    def one_step(params, state, opt_state, lr, pmask, x, y, mask):
        (loss, (state, _)), grads = loss_and_grad(objective, _masked(apply, mask_fn, pmask), params, static, state,
                                                  x, y, mask=mask)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = jax.tree.map(lambda p, u: p + lr.astype(p.dtype) * u, params, updates)
        return params, state, opt_state, loss

    @jax.jit
    def chunk(params, states, opt_state, lrs, run_masks, seed_index, batches, step0):
        steps = step0 + jnp.arange(batches["x"].shape[0])

        def body(carry, inputs):
            p, st, o = carry
            batch, i = inputs
            factor = 1.0 if schedule is None else schedule(i)
            x, y = batch["x"][seed_index], batch["y"][seed_index]
            mask = batch["mask"][seed_index] if "mask" in batch else None
            # all R runs in one vectorised step (see the module docstring: one program for the whole grid)
            p, st, o, loss = jax.vmap(one_step, in_axes=(0, 0, 0, 0, 0, 0, 0, None if mask is None else 0))(
                p, st, o, lrs * factor, run_masks, x, y, mask)
            return (p, st, o), loss

        (params, states, opt_state), losses = lax.scan(body, (params, states, opt_state), (batches, steps))
        return params, states, opt_state, losses

    return chunk


def make_evaluator(static, objective, data: dict[str, Array | np.ndarray], *, apply: Apply = apply_layer,
                   mask_fn: Callable | None = None):
    """Jitted `(params [R, ...], states [R, ...], run_masks [R, ...] or None) -> objective sums [R, S]` on `data`
    (one batch: "x" [E, ...], "y" [E, ...], optional "mask"), every example with weight 1."""
    x, y = jnp.asarray(data["x"]), jnp.asarray(data["y"])
    mask = None if data.get("mask") is None else jnp.asarray(data["mask"])
    w = jnp.ones(x.shape[0], jnp.result_type(float))

    def run_sums(p, st, pmask):
        return eval_sums(objective, _masked(apply, mask_fn, pmask), eqx.combine(p, static), st, x, y, w, mask)

    return jax.jit(jax.vmap(run_sums))


def _check_batches(batches: dict, chunk: int, num_streams: int) -> None:
    if "x" not in batches or "y" not in batches:
        raise ValueError(f"data(c) must return a dict with 'x' and 'y' (and optionally 'mask'); got {sorted(batches)}.")
    for name, arr in batches.items():
        if arr.ndim < 3 or arr.shape[0] != chunk or arr.shape[1] < num_streams:
            raise ValueError(f"data(c)[{name!r}] must have shape [chunk={chunk}, streams >= {num_streams}, batch, "
                             f"...]; got {tuple(arr.shape)}.")


def train_sweep(
    models: list[eqx.Module],
    sweep: Sweep,
    data: Callable[[int], dict[str, np.ndarray]],
    *,
    steps: int,
    chunk: int,
    objective=None,
    optimizer: optax.GradientTransformation | None = None,
    schedule: Callable | None = None,
    apply: Apply = apply_layer,
    states: list | None = None,
    masks=None,
    mask_fn: Callable | None = None,
    eval_data: dict[str, Array | np.ndarray] | None = None,
    eval_every: int = 1,
) -> SweepResult:
    """Train R models (one per run of `sweep`) for `steps` steps of their per-seed data streams.

    Args:
        models: one model per run, all of one structure (e.g. the same layer built with different keys).
        data: `data(c)` -> chunk c of the streams, {"x": [chunk, S, B, ...], "y": [chunk, S, B, ...]} and
            optionally "mask" [chunk, S, B, L] (the objective's step mask).
        objective: a `train.objectives` object (default `PerStepRegression()`: the per-step MSE).
        optimizer: at unit learning rate (default `unit_adam()`); run r's update is lr_r · schedule(i) times it.
        apply: how a batch goes through a model (`train.step.apply_layer` for bare layers, the default;
            `models.sequence_model.apply_batch` for a `SequenceModel`, with `states` its norm states).
        masks, mask_fn: per-run parameter masks, run r uses masks[sweep.mask_index[r]] through `mask_fn`.
        eval_data: evaluation set (one batch, see `make_evaluator`), evaluated before training and after
            every `eval_every` chunks (`steps` must be a multiple of chunk · eval_every).
    """
    if len(models) != sweep.num_runs:
        raise ValueError(f"need one model per run: {sweep.num_runs} runs, {len(models)} models.")
    if steps < 1 or chunk < 1 or eval_every < 1 or steps % (chunk * eval_every):
        raise ValueError(f"steps ({steps}) must be a positive multiple of chunk ({chunk}) times eval_every "
                         f"({eval_every}).")
    if (masks is None) != (mask_fn is None) or (masks is not None and sweep.mask_index is None):
        raise ValueError("parameter masks need all three of masks, mask_fn and sweep.mask_index.")
    objective = PerStepRegression() if objective is None else objective
    optimizer = unit_adam() if optimizer is None else optimizer
    params, static = stack_runs(models)
    stacked_states = None if states is None else jax.tree.map(lambda *xs: jnp.stack(xs), *states)
    opt_state = jax.vmap(optimizer.init)(params)
    trainer = make_chunk_trainer(static, objective, optimizer, apply=apply, mask_fn=mask_fn, schedule=schedule)
    lrs = jnp.asarray(sweep.learning_rates)  # float64 when x64 is on, else float32
    seed_index = jnp.asarray(sweep.seed_index)
    run_masks = None if masks is None else jax.tree.map(lambda m: m[jnp.asarray(sweep.mask_index)], masks)
    evaluate = None if eval_data is None else make_evaluator(static, objective, eval_data, apply=apply,
                                                             mask_fn=mask_fn)
    sums, losses, eval_steps = [], [], []

    def record(step):
        if evaluate is not None:
            sums.append(np.asarray(evaluate(params, stacked_states, run_masks), dtype=np.float64))
            eval_steps.append(step)

    record(0)
    for c in range(steps // chunk):
        batches = data(c)
        _check_batches(batches, chunk, int(np.max(sweep.seed_index)) + 1)
        params, stacked_states, opt_state, loss = trainer(params, stacked_states, opt_state, lrs, run_masks,
                                                          seed_index, {k: jnp.asarray(v) for k, v in batches.items()},
                                                          c * chunk)
        losses.append(np.asarray(loss))
        if (c + 1) % eval_every == 0:
            record((c + 1) * chunk)
    evals: dict[str, np.ndarray] = {}
    if sums:
        per_point = [[objective.metrics(s[r]) for r in range(sweep.num_runs)] for s in sums]
        evals = {k: np.asarray([[m[k] for m in row] for row in per_point]) for k in per_point[0][0]}
    return SweepResult(params=params, static=static, losses=np.concatenate(losses, axis=0), eval_steps=eval_steps,
                       evals=evals)
