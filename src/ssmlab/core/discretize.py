r"""Discretisation of diagonal continuous-time systems dx/dt = a x + b u with step dt.

* ZOH (zero-order hold):  ā = exp(dt a),  b̄ = (ā - 1)/a · b            [S4D, eq. (4)]
* bilinear (Tustin):      ā = (1 + dt a/2)/(1 - dt a/2),  b̄ = dt/(1 - dt a/2) · b   [S4, eq. (3)]

`a` is diagonal (real or complex) of shape [N]; `dt` is a scalar or broadcastable to `a`;
`b` has a leading N axis ([N] or [N, H]).
"""

from __future__ import annotations

import jax.numpy as jnp

from .._typing import Array, Diagonal, Num
from .checks import float_inputs


def _expand(scale, b):
    return scale.reshape(scale.shape + (1,) * (b.ndim - 1))


def _dt_like(a, dt):
    return jnp.broadcast_to(jnp.asarray(dt), a.shape)


def _inputs(a, b, dt):
    """(a, b, dt) in the working dtype (ints -> float, bf16/fp16 -> float32) and the output dtype."""
    (a, b, dt), out = float_inputs(("a", a), ("b", b), ("dt", dt), real=("dt",))
    return a, b, dt, out


def zoh(a: Diagonal, b: Num[Array, "N *H"], dt) -> tuple[Array, Array]:
    """Zero-order-hold discretisation: (exp(dt a), (exp(dt a) - 1)/a · b) [S4D, eq. (4)].

    The a -> 0 limit (b̄ = dt b) is taken with `expm1` so small |a| loses no precision.
    """
    a, b, dt, out = _inputs(a, b, dt)
    dt = _dt_like(a, dt)
    a_bar = jnp.exp(dt * a)
    safe = jnp.where(a == 0, 1.0, a)
    scale = jnp.where(a == 0, dt, jnp.expm1(dt * a) / safe)
    return a_bar.astype(_like(out, a_bar)), (_expand(scale, b) * b).astype(out)


def bilinear(a: Diagonal, b: Num[Array, "N *H"], dt) -> tuple[Array, Array]:
    """Bilinear (Tustin) discretisation: ((1 + dt a/2)/(1 - dt a/2), dt/(1 - dt a/2) · b) [S4, eq. (3)]."""
    a, b, dt, out = _inputs(a, b, dt)
    dt = _dt_like(a, dt)
    denom = 1.0 - dt * a / 2.0
    a_bar = (1.0 + dt * a / 2.0) / denom
    return a_bar.astype(_like(out, a_bar)), (_expand(dt / denom, b) * b).astype(out)


def _like(out, x):
    """`out`'s precision, complex only if `x` is (ā is real for real a even when b is complex)."""
    real = jnp.finfo(out).dtype
    return jnp.promote_types(real, jnp.complex64) if jnp.iscomplexobj(x) else real
