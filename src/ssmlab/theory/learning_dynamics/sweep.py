r"""Latent-size sweep of gradient descent on the time-domain SSM, vectorised over N [LDyn, Fig. 1F, App. B].

All runs share one padded latent size N_max: a run with latent size N uses the mask
m = (1,..,1, 0,..,0) (N ones) and the effective parameters B = b ⊙ m, C = c ⊙ m, with A = aI
fixed. Masked dimensions contribute nothing to the output and get zero gradient, so each run
is exactly gradient descent on an N-dimensional model, and a sweep over N is a single
`jax.vmap` of one compiled program (no recompilation per N).

Cost of a step. With A = aI every latent dimension has the same impulse response a^t, so the
model output is ŷ = P · g with P = Σ_i c_i b_i m_i the total gain and g the (periodic) response
of the unit-gain system to u, independent of the parameters. The default `gradient="gain"`
computes g once and differentiates Σ_t (y_t - P g_t)^2 through P (O(L + N) per step, the same
loss function and exact gradient); `gradient="autodiff"` differentiates through the full masked
time-domain model (`masked_loss`: kernel, rfft and irfft at every step), the former route, kept
as the reference. The whole descent is one `lax.scan` (no host round trip per step), vmapped
over the runs; a 2-D grid of learning rates adds a second vmap axis.

Parameterisations ("kinds"):
* ``balanced_tied``: one scalar b and one scalar c shared by the N dimensions, b_0 = c_0 = sqrt(Λ_0).
* ``balanced_untied``: vectors b, c with b_i = c_i = sqrt(Λ_0) at t = 0.
* ``c_only_tied`` / ``c_only_untied``: B = 1 fixed, c (scalar / vector) learned from c_0 = 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array

from .frequency import bin_statistics, resolvent, ssm_output, time_loss, transfer_statistics

KINDS = ("balanced_tied", "balanced_untied", "c_only_tied", "c_only_untied")
GRADIENTS = ("gain", "autodiff")


def check_kind(kind: str) -> str:
    """Validate a sweep parameterisation name."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}.")
    return kind


def sweep_data(length: int, a: float, seed: int) -> tuple[Array, Array, float, float, float]:
    """Input, teacher output (kernel 0.8·0.6^t plus noise), σ_G, η_G and the least-squares floor for A = a.

    The floor is Σ_t (y-ŷ)^2 at the optimal total gain P* = σ_G/η_G: (Σ_k |Y_k|^2 - σ_G^2/η_G)/L.
    """
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(length)
    y = np.convolve(u, 0.8 * 0.6 ** np.arange(length))[:length] + 0.05 * rng.standard_normal(length)
    u, y = jnp.asarray(u), jnp.asarray(y)
    sig, eta = bin_statistics(u, y)
    s_g, e_g = transfer_statistics(sig, eta, resolvent(jnp.array([a]), length=length)[:, 0])
    floor = (jnp.sum(jnp.abs(jnp.fft.fft(y)) ** 2) - s_g**2 / e_g) / length
    return u, y, float(s_g), float(e_g), float(floor)


def latent_masks(n_values, *, n_max: int) -> Array:
    """Masks [len(n_values), n_max] with the first N entries 1 (run with latent size N)."""
    n = jnp.asarray(n_values)
    if n.ndim != 1 or (not isinstance(n_max, int)) or n_max < 1:
        raise ValueError(f"n_values must be 1-D and n_max a positive int; got {n.shape}, {n_max!r}.")
    return (jnp.arange(n_max)[None, :] < n[:, None]).astype(jnp.result_type(float))


def initial_params(kind: str, *, n_max: int, gain0: float) -> dict[str, Array]:
    """Learned parameters at t = 0: sqrt(Λ_0) for balanced b, c; zero for c-only c (tied → shape [1])."""
    check_kind(kind)
    size = 1 if kind.endswith("_tied") else n_max
    dtype = jnp.result_type(float)
    if kind.startswith("balanced"):
        root = jnp.sqrt(jnp.asarray(gain0, dtype))
        return {"b": jnp.full((size,), root), "c": jnp.full((size,), root)}
    return {"c": jnp.zeros((size,), dtype)}


def masked_loss(kind: str, params: dict, mask: Array, u: Array, y: Array, *, a: float) -> Array:
    """Σ_t (y_t - ŷ_t)^2 of the periodic model with A = aI, B = b ⊙ m, C = c ⊙ m [LDyn, eqs. (1), (16)]."""
    n_max = mask.shape[0]
    b = jnp.broadcast_to(params["b"], (n_max,)) if "b" in params else jnp.ones((n_max,), mask.dtype)
    c = jnp.broadcast_to(params["c"], (n_max,))
    y_model = ssm_output(jnp.full((n_max,), a), b * mask, c * mask, u, periodic=True, method="fft")
    return time_loss(y, y_model)


def total_gain(params: dict, mask: Array) -> Array:
    """P = Σ_i c_i b_i over the active dimensions (H_k = P g_k)."""
    n_max = mask.shape[0]
    b = jnp.broadcast_to(params["b"], (n_max,)) if "b" in params else jnp.ones((n_max,), mask.dtype)
    return jnp.sum(jnp.broadcast_to(params["c"], (n_max,)) * b * mask)


def unit_response(u: Array, *, a: float) -> Array:
    """g: periodic output of the one-dimensional system A = a, B = C = 1 (ŷ = P g for A = aI) [LDyn, eq. (1)]."""
    one = jnp.ones((1,), jnp.result_type(u))
    return ssm_output(jnp.full((1,), a, one.dtype), one, one, u, periodic=True, method="fft")


def descend_one(
    kind: str, mask: Array, learning_rate, u: Array, y: Array, *, a: float, gain0: float, floor, gap: float,
    steps: int, record_every: int, gradient: str = "gain", unroll: int = 1,
) -> tuple[Array, Array]:
    """GD for one latent size: returns (first step with loss gap <= gap × initial gap, or -1; P records).

    The loss gap is loss - floor, with `floor` the least-squares loss (from the statistics).
    `gradient`: "gain" (loss through the total gain, ŷ = P g; default) or "autodiff" (through the
    masked time-domain model at every step, the reference); both are the same function of the
    parameters, so they agree to rounding. `unroll` is passed to the inner `lax.scan`.
    """
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {GRADIENTS}; got {gradient!r}.")
    params0 = initial_params(kind, n_max=mask.shape[0], gain0=gain0)

    if gradient == "autodiff":
        def loss_fn(p):
            return masked_loss(kind, p, mask, u, y, a=a)
    else:
        g = unit_response(u, a=a)

        def loss_fn(p):
            return time_loss(y, total_gain(p, mask) * g)

    gap0 = loss_fn(params0) - floor
    grad = jax.value_and_grad(loss_fn)

    def step(carry, _):
        p, first, s = carry
        value, g = grad(p)
        first = jnp.where((first < 0) & (value - floor <= gap * gap0), s, first)
        p = jax.tree_util.tree_map(lambda x, dx: x - learning_rate * dx, p, g)
        return (p, first, s + 1), None

    def record(carry, _):
        carry, _ = lax.scan(step, carry, None, length=record_every, unroll=min(unroll, record_every))
        return carry, total_gain(carry[0], mask)

    (p, first, s), gains = lax.scan(record, (params0, jnp.array(-1), jnp.array(0)), None,
                                    length=steps // record_every)
    first = jnp.where((first < 0) & (loss_fn(p) - floor <= gap * gap0), s, first)
    return first, jnp.concatenate([total_gain(params0, mask)[None], gains])


def sweep_descent(
    kind: str, n_values, learning_rates, u: Array, y: Array, *, n_max: int, a: float, gain0: float, floor,
    gap: float = 0.01, steps: int, record_every: int = 1, gradient: str = "gain", unroll: int = 1,
) -> tuple[Array, Array]:
    """`descend_one` for every N in `n_values` (with its own learning rate) as one vmapped computation.

    `learning_rates` is [R] (one per N) or a grid [G, R] (G learning-rate settings for each N,
    a second vmap axis). Returns (convergence steps [*lr_shape], total-gain records
    [*lr_shape, steps//record_every + 1]). Wrap in `jax.jit` (static: kind, n_max, a, gain0, gap,
    steps, record_every, gradient, unroll) to compile once.
    """
    check_kind(kind)
    if steps < 1 or steps % record_every:
        raise ValueError(f"steps must be a positive multiple of record_every={record_every}; got {steps}.")
    masks = latent_masks(n_values, n_max=n_max)
    lrs = jnp.asarray(learning_rates)
    if lrs.ndim not in (1, 2) or lrs.shape[-1] != masks.shape[0]:
        raise ValueError(f"learning_rates must be [R] or [G, R] with R = {masks.shape[0]} (one entry per N); "
                         f"got shape {lrs.shape}.")

    def one(mask, lr):
        return descend_one(kind, mask, lr, u, y, a=a, gain0=gain0, floor=floor, gap=gap, steps=steps,
                           record_every=record_every, gradient=gradient, unroll=unroll)

    runs = jax.vmap(one)
    if lrs.ndim == 2:
        return jax.vmap(runs, in_axes=(None, 0))(masks, lrs)
    return runs(masks, lrs)
