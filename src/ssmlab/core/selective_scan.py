r"""Selective scan: a diagonal SSM whose step Δ, input B and readout C change with time [Mamba, Alg. 2].

For one sequence with D channels and N states per channel (no batch), t = 0..L-1, x_{-1} = 0:

    Ā_t = exp(Δ_t ⊗ A)                       [D, N]  (ZOH on A)                [Mamba, eq. (4)]
    B̄_t u_t = (Δ_t ⊙ u_t) ⊗ B_t              [D, N]  (the simplified Euler input term of the
                                                      reference `selective_scan_ref`)
    x_t = Ā_t ⊙ x_{t-1} + B̄_t u_t,    y_t = x_t C_t + D ⊙ u_t                  [Mamba, eq. (2a)-(2b)]

Two evaluations of the same recurrence:

* ``sequential``: one fused `lax.scan` over time that forms Ā_t and B̄_t u_t inside the step and
  emits y_t, so the forward pass never holds an [L, D, N] array; fastest on CPU.
* ``associative``: Ā and B̄ u materialised as [L, D·N] and passed to
  `core.scan.linear_recurrence` (affine-map composition, O(log L) depth), then read out with C.
* ``auto``: sequential on CPU, associative on accelerators, as for the LRU (`core.scan.resolve_method`).

`selective_scan_step` is one step of the recurrence; the sequential scan and `Mamba.step` both use it.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .._typing import Array, Float, Num
from .checks import float_inputs
from .scan import linear_recurrence, resolve_method


def selective_scan_step(
    x: Float[Array, "D N"],
    u_t: Float[Array, " D"],
    delta_t: Float[Array, " D"],
    A: Float[Array, "D N"],
    B_t: Float[Array, " N"],
    C_t: Float[Array, " N"],
    D: Float[Array, " D"] | None = None,
) -> tuple[Float[Array, "D N"], Float[Array, " D"]]:
    """x_t = exp(Δ_t A) ⊙ x_{t-1} + (Δ_t u_t) ⊗ B_t, y_t = x_t C_t + D u_t [Mamba, eqs. (2a), (2b), (4)].

    Shapes are not checked here (it runs inside scans); `selective_scan` checks them once.
    Returns (x_t [D, N], y_t [D]).
    """
    x = jnp.exp(delta_t[:, None] * A) * x + (delta_t * u_t)[:, None] * B_t[None, :]
    y = x @ C_t
    return x, (y if D is None else y + D * u_t)


def _check_shapes(u, delta, A, B, C, D) -> None:
    if u.ndim != 2 or u.shape[0] == 0 or u.shape[1] == 0:
        raise ValueError(f"u must have shape [L, D] with L >= 1 and D >= 1 (one sequence, no batch; use jax.vmap "
                         f"for batches); got {tuple(u.shape)}.")
    L, Dch = u.shape
    if delta.shape != (L, Dch):
        raise ValueError(f"delta must have the shape of u, [L, D]=({L}, {Dch}); got {tuple(delta.shape)}.")
    if A.ndim != 2 or A.shape[0] != Dch or A.shape[1] == 0:
        raise ValueError(f"A must have shape [D, N] with D={Dch} (channels of u) and N >= 1; got {tuple(A.shape)}.")
    N = A.shape[1]
    for name, x in (("B", B), ("C", C)):
        if x.shape != (L, N):
            raise ValueError(f"{name} must have shape [L, N]=({L}, {N}) (one row per step, N from A); "
                             f"got {tuple(x.shape)}.")
    if D is not None and D.shape != (Dch,):
        raise ValueError(f"D must have shape [D]=({Dch},) (one skip weight per channel) or be None; "
                         f"got {tuple(D.shape)}.")


def _sequential(u, delta, A, B, C, x0):
    def step(x, inputs):
        return selective_scan_step(x, *inputs[:2], A, *inputs[2:])

    return lax.scan(step, x0, (u, delta, B, C))[::-1]  # (y [L, D], final state [D, N])


def _associative(u, delta, A, B, C, x0):
    L, Dch = u.shape
    N = A.shape[1]
    a = jnp.exp(delta[:, :, None] * A[None, :, :]).reshape(L, Dch * N)
    bu = ((delta * u)[:, :, None] * B[:, None, :]).reshape(L, Dch * N)
    x = linear_recurrence(a, bu, x0=x0.reshape(Dch * N), method="associative").reshape(L, Dch, N)
    return jnp.einsum("ldn,ln->ld", x, C), x[-1]


def selective_scan(
    u: Num[Array, "..."],
    delta: Num[Array, "..."],
    A: Num[Array, "..."],
    B: Num[Array, "..."],
    C: Num[Array, "..."],
    D: Num[Array, "..."] | None = None,
    *,
    x0: Num[Array, "..."] | None = None,
    return_state: bool = False,
    method: str = "sequential",
):
    """y_t = x_t C_t + D u_t with x_t = exp(Δ_t A) x_{t-1} + Δ_t u_t B_t, x_{-1} = 0 [Mamba, Alg. 2].

    Args:
        u: input [L, D] (one sequence).
        delta: positive step sizes Δ [L, D] (already through softplus; no bias is added here).
        A: continuous-time diagonal state matrix [D, N] (negative real for a stable scan).
        B: input vectors [L, N], shared by all channels at each step.
        C: readout vectors [L, N].
        D: skip weights [D], or None for no skip term.
        x0: the state before the first step, x_{-1} [D, N]; zeros if omitted.
        return_state: also return the final state x_{L-1} [D, N] (to continue the scan from it).
        method: "sequential" (fused lax.scan), "associative" (lax.associative_scan) or "auto" (by backend).

    Returns:
        y: [L, D], dtype promoted from the inputs (integers give float; bf16/fp16 run in float32 and are
        cast back); with `return_state`, (y, x_{L-1} [D, N]).

    >>> import jax.numpy as jnp
    >>> y = selective_scan(jnp.ones((3, 1)), jnp.ones((3, 1)), -jnp.ones((1, 1)), jnp.ones((3, 1)), jnp.ones((3, 1)))
    >>> [round(float(v), 4) for v in y[:, 0]]  # 1, 1 + e^-1, 1 + e^-1 + e^-2
    [1.0, 1.3679, 1.5032]
    """
    method = resolve_method(method)
    named = [("u", u), ("delta", delta), ("A", A), ("B", B), ("C", C)] + ([] if D is None else [("D", D)])
    named += [] if x0 is None else [("x0", x0)]
    arrays, out_dtype = float_inputs(*named, real=tuple(n for n, _ in named))
    got = dict(zip((n for n, _ in named), arrays, strict=True))
    u, delta, A, B, C = (got[n] for n in ("u", "delta", "A", "B", "C"))
    D = got.get("D")
    _check_shapes(u, delta, A, B, C, D)
    if x0 is not None and got["x0"].shape != A.shape:
        raise ValueError(f"x0 must have the shape of A, [D, N]={tuple(A.shape)}; got {tuple(got['x0'].shape)}.")
    dtype = jnp.result_type(*arrays)
    u, delta, A, B, C = (x.astype(dtype) for x in (u, delta, A, B, C))
    x0 = jnp.zeros(A.shape, dtype) if x0 is None else got["x0"].astype(dtype)
    y, x_last = (_sequential if method == "sequential" else _associative)(u, delta, A, B, C, x0)
    if D is not None:
        y = y + D.astype(dtype)[None, :] * u
    return (y.astype(out_dtype), x_last.astype(out_dtype)) if return_state else y.astype(out_dtype)
