r"""Diagonal linear recurrences x_t = a_t ⊙ x_{t-1} + b_t, x_{-1} = x0 (default 0).

Two evaluations of the same recurrence:

* ``sequential``: `lax.scan`, O(L N) work and O(L) depth; fastest on CPU.
* ``associative``: `lax.associative_scan` with the affine-map composition
  (a_1, b_1) ∘ (a_2, b_2) = (a_1 a_2, a_2 b_1 + b_2), O(log L) depth.
* ``auto``: sequential on CPU, associative on accelerators (`jax.default_backend()` when traced).
  On a 2-core CPU a 2-block LRU training step (B 32, L 1,024, N = H = 32) took 183 ms sequential vs
  236 ms associative, and compiled in 3.5 s vs 6.2 s.

`a` may be time-invariant [N] or time-varying [L, N]; real or complex.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .._typing import Array, Inexact, Num
from .checks import float_inputs

_METHODS = ("sequential", "associative", "auto")


def resolve_method(method: str) -> str:
    """The evaluation `method` runs as: "auto" -> "sequential" on CPU, "associative" elsewhere."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    if method == "auto":
        return "sequential" if jax.default_backend() == "cpu" else "associative"
    return method


def _combine(left, right):
    a_l, b_l = left
    a_r, b_r = right
    return a_l * a_r, a_r * b_l + b_r


def linear_recurrence(
    a: Num[Array, "..."],
    bu: Num[Array, "..."],
    *,
    x0: Num[Array, "..."] | None = None,
    method: str = "sequential",
) -> Inexact[Array, "L N"]:
    """States of x_t = a ⊙ x_{t-1} + bu_t for t = 0..L-1 [diagonal SSM recurrence, LRU eq. (1)].

    Args:
        a: diagonal transition, [N] (time-invariant) or [L, N] (time-varying).
        bu: driving input B u_t, [L, N].
        x0: state before the first step (x_{-1}), [N]; zeros if omitted.
        method: "sequential" (lax.scan), "associative" (lax.associative_scan) or "auto" (by backend).

    Returns:
        x: [L, N] states, dtype promoted from `a`, `bu` (and `x0`); integers give float, and
        bf16/fp16 are computed in float32 and cast back.

    >>> import jax.numpy as jnp
    >>> linear_recurrence(jnp.array([0.5]), jnp.ones((3, 1)))[:, 0]
    Array([1.  , 1.5 , 1.75], dtype=float32)
    """
    method = resolve_method(method)
    named = (("a", a), ("bu", bu)) + (() if x0 is None else (("x0", x0),))
    arrays, out_dtype = float_inputs(*named)  # bf16/fp16 recurrences run in float32
    a, bu, x0 = arrays[0], arrays[1], (arrays[2] if x0 is not None else None)
    if bu.ndim != 2 or bu.shape[0] == 0:
        raise ValueError(f"bu must have shape [L, N] with L >= 1; got {tuple(bu.shape)}.")
    L, N = bu.shape
    if a.shape not in ((N,), (L, N)):
        raise ValueError(f"a must have shape [N]={N,} or [L, N]={L, N} to match bu; got {tuple(a.shape)}.")
    if x0 is not None and x0.shape != (N,):
        raise ValueError(f"x0 must have shape [N]=({N},); got {tuple(x0.shape)}.")
    dtype = jnp.result_type(a, bu, *(() if x0 is None else (x0,)))  # working dtype
    a_t = jnp.broadcast_to(a, (L, N)).astype(dtype)
    b_t = bu.astype(dtype)
    if x0 is not None:
        b_t = b_t.at[0].add(a_t[0] * x0.astype(dtype))
    return _SCANS[method](a_t, b_t).astype(out_dtype)


def _sequential(a_t, b_t):
    def step(x, ab):
        x = ab[0] * x + ab[1]
        return x, x

    return lax.scan(step, jnp.zeros(b_t.shape[1:], b_t.dtype), (a_t, b_t))[1]


def _associative(a_t, b_t):
    return lax.associative_scan(_combine, (a_t, b_t), axis=0)[1]


# Compiled once per shape: eager callers would otherwise dispatch (and compile) every op of
# the O(log L)-level associative recursion separately. Inside an outer jit these inline.
_SCANS = {"sequential": jax.jit(_sequential), "associative": jax.jit(_associative)}
