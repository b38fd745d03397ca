r"""Training many small sequence models at once for the synthetic-LDS study [STU, §3.1, App. C.1].

A *sweep* is R runs of one architecture that differ only in learning rate, seed and (optionally) a
parameter mask. Their trainable arrays are stacked along a leading axis R and every optimiser step
is one `jax.vmap` over the runs inside a `lax.scan` over steps, so a learning-rate grid costs one
compiled program instead of R sequential trainings. Each run r minimises the mean squared error

    loss_r = mean_{t, o} (model_r(u)[t, o] - y[t, o])²      (batch size 1, a fresh sequence per step)

with Adam at a fixed learning rate lr_r (no schedule, no weight decay: App. C.1 found neither helped).
Adam's moment statistics are shared code (`optax.scale_by_adam`); only the final scaling by -lr_r is
per run. Frozen arrays (the STU's filters) are split off once with `eqx.partition` and never updated.

`AblatedLRU` re-evaluates an `LRU` with its two "tricks" switchable (stable exponential
parameterisation of λ, trainable γ normalisation), for the ablation of App. C.1; with both on it is
the same map as `LRU` (checked in tests).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jaxtyping import Array, Float

from ..core.scan import linear_recurrence
from ..layers.base import AbstractSequenceLayer
from ..layers.lru import LRU, lru_eigenvalues
from ..layers.stu import STU
from ..train.optim import trainable


def stack_runs(models: list[eqx.Module]):
    """(stacked trainable params [R, ...], shared static part) of R models with the same structure."""
    parts = [eqx.partition(m, trainable(m)) for m in models]
    params = jax.tree.map(lambda *xs: jnp.stack(xs), *[p for p, _ in parts])
    return params, parts[0][1]


def unstack_run(params, static, r: int) -> eqx.Module:
    """Model number r of a stacked sweep."""
    return eqx.combine(jax.tree.map(lambda x: x[r], params), static)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Learning rate, data-seed index and (optional) mask index of each of the R runs."""

    learning_rates: np.ndarray  # [R]
    seed_index: np.ndarray  # [R] row of the per-seed data used by run r
    mask_index: np.ndarray | None = None  # [R] row of `masks` applied to run r

    def __post_init__(self):
        if self.learning_rates.shape != self.seed_index.shape or self.learning_rates.ndim != 1:
            raise ValueError("learning_rates and seed_index must be 1-D arrays of the same length R.")
        if not np.all(self.learning_rates > 0):
            raise ValueError(f"learning rates must be > 0; got {self.learning_rates}.")

    @property
    def num_runs(self) -> int:
        """R, the number of runs trained together."""
        return int(self.learning_rates.shape[0])


def grid_sweep(learning_rates, num_seeds: int) -> Sweep:
    """All (learning rate, seed) pairs, learning rate major: run r = i_lr * num_seeds + i_seed."""
    lrs = np.asarray(learning_rates, dtype=np.float64)
    return Sweep(np.repeat(lrs, num_seeds), np.tile(np.arange(num_seeds), lrs.size))


def _mse(params, static, x, y, mask_fn, mask):
    model = eqx.combine(params, static)
    if mask_fn is not None:
        model = mask_fn(model, mask)
    pred = model(x)
    return jnp.mean((pred - y) ** 2)


def make_chunk_trainer(static, *, mask_fn: Callable | None = None, cosine_steps: int = 0):
    """A jitted function training the stacked runs on a chunk of steps; returns new state and losses [T, R].

    Its arguments: (params [R,...], adam_state [R,...], lrs [R], masks [M, ...] or None, mask_index [R] or
    None, seed_index [R], xs [T, S, L, d_in], ys [T, S, L, d_out], step0); step t of run r uses
    xs[t, seed_index[r]]. With `cosine_steps` = n > 0 the learning rate at global step i is
    lr · ½(1 + cos(π i / n)) (cosine decay to 0), otherwise it is constant.
    """
    adam = optax.scale_by_adam()

    def one_step(params, state, lr, mask, x, y):
        loss, grads = jax.value_and_grad(_mse)(params, static, x, y, mask_fn, mask)
        updates, state = adam.update(grads, state)
        params = jax.tree.map(lambda p, u: p - lr.astype(p.dtype) * u, params, updates)
        return params, state, loss

    @jax.jit
    def chunk(params, state, lrs, masks, mask_index, seed_index, xs, ys, step0):
        run_masks = None if masks is None else jax.tree.map(lambda m: m[mask_index], masks)
        steps = step0 + jnp.arange(xs.shape[0])

        def body(carry, xyi):
            p, s = carry
            x, y, i = xyi
            factor = 0.5 * (1.0 + jnp.cos(jnp.pi * i / cosine_steps)) if cosine_steps else 1.0
            p, s, loss = jax.vmap(one_step)(p, s, lrs * factor, run_masks, x[seed_index], y[seed_index])
            return (p, s), loss

        (params, state), losses = lax.scan(body, (params, state), (xs, ys, steps))
        return params, state, losses

    return chunk, adam


def train_sweep(
    models: list[eqx.Module],
    sweep: Sweep,
    data: Callable[[int], tuple[np.ndarray, np.ndarray]],
    *,
    steps: int,
    chunk: int,
    masks=None,
    mask_fn: Callable | None = None,
    eval_data: tuple[Array, Array] | None = None,
    cosine: bool = False,
):
    """Train R models (one per run) for `steps` Adam steps (constant lr, or cosine decay to 0 if `cosine`).

    `data(c)` returns chunk c of the per-seed streams: xs [chunk, S, L, d_in], ys [chunk, S, L, d_out].
    A run whose loss becomes NaN/inf keeps going (its losses stay non-finite); other runs are unaffected.

    Returns:
        (params, static, losses [steps, R], held-out MSE [steps // chunk + 1, R] after 0, chunk, 2·chunk, ...
        steps; empty [0, R] without `eval_data`).
    """
    if len(models) != sweep.num_runs:
        raise ValueError(f"need one model per run: {sweep.num_runs} runs, {len(models)} models.")
    if steps % chunk:
        raise ValueError(f"steps ({steps}) must be a multiple of chunk ({chunk}).")
    params, static = stack_runs(models)
    trainer, adam = make_chunk_trainer(static, mask_fn=mask_fn, cosine_steps=steps if cosine else 0)
    state = jax.vmap(adam.init)(params)
    lrs = jnp.asarray(sweep.learning_rates)  # float64 when x64 is on, else float32
    seed_index = jnp.asarray(sweep.seed_index)
    mask_index = None if sweep.mask_index is None else jnp.asarray(sweep.mask_index)
    evaluate = None if eval_data is None else make_evaluator(static, *eval_data, mask_fn=mask_fn)
    run_masks = None if masks is None else jax.tree.map(lambda m: m[mask_index], masks)
    losses, held_out = [], []
    for c in range(steps // chunk):
        if evaluate is not None:
            held_out.append(np.asarray(evaluate(params, run_masks)))
        xs, ys = data(c)
        params, state, loss = trainer(params, state, lrs, masks, mask_index, seed_index,
                                      jnp.asarray(xs), jnp.asarray(ys), c * chunk)
        losses.append(np.asarray(loss))
    if evaluate is not None:
        held_out.append(np.asarray(evaluate(params, run_masks)))
    held = np.stack(held_out) if held_out else np.zeros((0, sweep.num_runs))
    return params, static, np.concatenate(losses, axis=0), held


def make_evaluator(static, x: Array, y: Array, *, mask_fn: Callable | None = None):
    """Jitted `(params [R, ...], run_masks [R, ...] or None) -> MSE [R]` on held-out x [E, L, d_in], y [E, L, d_out]."""

    def run_mse(p, mask):
        return jnp.mean(jax.vmap(lambda xi, yi: _mse(p, static, xi, yi, mask_fn, mask))(x, y))

    return jax.jit(jax.vmap(run_mse))


class AblatedLRU(AbstractSequenceLayer):
    """LRU map with switchable tricks: λ = exp(-e^p + i e^q) (stable exp) or p + iq (direct); γ = e^{γ_log} or 1.

    y_k = Re(C x_k) + D ⊙ u_k,  x_k = λ ⊙ x_{k-1} + γ ⊙ B u_k  [LRU, §3; ablation of STU App. C.1].
    `tricks` = (stable exp on?, γ normalisation on?) is an integer array rather than a static field so that
    runs of different variants can be stacked and trained in one `jax.vmap` (see `set_tricks`).
    """

    lam_p: Float[Array, " N"]
    lam_q: Float[Array, " N"]
    gamma_log: Float[Array, " N"]
    b_re: Float[Array, "N H"]
    b_im: Float[Array, "N H"]
    c_re: Float[Array, "H N"]
    c_im: Float[Array, "H N"]
    d: Float[Array, " H"]
    tricks: Array

    def __init__(self, lru: LRU, *, exp_param: bool, gamma_norm: bool):
        """Start from the same map as `lru` (same ring-initialised λ, B, C, D), except γ = 1 without γ-norm."""
        if exp_param:
            self.lam_p, self.lam_q = lru.nu_log, lru.theta_log
        else:
            lam = lru.eigenvalues
            self.lam_p, self.lam_q = jnp.real(lam), jnp.imag(lam)
        self.gamma_log = lru.gamma_log
        self.b_re, self.b_im, self.c_re, self.c_im, self.d = lru.b_re, lru.b_im, lru.c_re, lru.c_im, lru.d
        self.tricks = jnp.asarray([int(exp_param), int(gamma_norm)], dtype=jnp.int32)

    @property
    def eigenvalues(self) -> Array:
        """Diagonal λ (complex); in the direct parameterisation nothing keeps |λ| < 1."""
        stable = lru_eigenvalues(self.lam_p, self.lam_q)
        direct = lax.complex(self.lam_p, self.lam_q)
        return jnp.where(self.tricks[0] > 0, stable, direct)

    def __call__(self, u: Float[Array, "L H"]) -> Float[Array, "L H"]:
        """Apply to one sequence [L, H] with an associative scan."""
        gamma = jnp.where(self.tricks[1] > 0, jnp.exp(self.gamma_log), jnp.ones_like(self.gamma_log))
        b = gamma[:, None] * (self.b_re + 1j * self.b_im)
        x = linear_recurrence(self.eigenvalues, u @ b.T, method="associative")
        y = jnp.real(x @ (self.c_re + 1j * self.c_im).T)
        return (y + self.d[None, :] * u).astype(u.dtype)


def set_tricks(model: AblatedLRU, tricks: Array) -> AblatedLRU:
    """`mask_fn` for sweeps of `AblatedLRU`: run r uses the trick flags masks[mask_index[r]]."""
    return eqx.tree_at(lambda m: m.tricks, model, tricks)


def mask_filters(model: STU, mask: Array) -> STU:
    """`mask_fn` for STU sweeps over K: spectral weights of filters k with mask[k] = 0 are held at 0.

    With zero-initialised weights and Adam, a masked weight gets zero gradient and zero update, so a
    run with mask 1[k < K] is exactly an STU with K filters (the filters of Z do not depend on K).
    """
    m = mask.astype(model.m_phi_plus.dtype)[:, None, None]
    model = eqx.tree_at(lambda s: s.m_phi_plus, model, model.m_phi_plus * m)
    if model.m_phi_minus is not None:
        model = eqx.tree_at(lambda s: s.m_phi_minus, model, model.m_phi_minus * m)
    return model
