r"""Output recurrences of the STU and AR-STU: ŷ_t = Σ_{j=1}^{k_y} ŷ_{t-j} M^y_j + Δ_t (ŷ_s = 0 for s < 0).

* eq. (4) (M^y = (0, I)): ŷ_t = ŷ_{t-2} + Δ_t, exactly two cumulative sums (even and odd t).
* eq. (6) (learnable M^y): `lax.scan` over t, or an associative scan on the companion state
  [ŷ_t, ..., ŷ_{t-k_y+1}] whose transition is the block companion matrix of M^y.

An initial condition (ŷ_{-1}, ..., ŷ_{-k_y}) enters as corrections of the first k_y inputs,
Δ_t += Σ_{j>t} ŷ_{t-j} M^y_j (used by chunked STU calls, `layers.stu_generation`).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

AR_METHODS = ("scan", "associative")


def eq4_recurrence(delta: Float[Array, "L H"]) -> Float[Array, "L H"]:
    """ŷ_t = ŷ_{t-2} + Δ_t (ŷ_s = 0 for s < 1), i.e. cumulative sums over even and odd t [STU, eq. (4)]."""
    L = delta.shape[0]
    pad = jnp.concatenate([delta, jnp.zeros((L % 2,) + delta.shape[1:], delta.dtype)], axis=0)
    pairs = jnp.cumsum(pad.reshape((pad.shape[0] // 2, 2) + delta.shape[1:]), axis=0)
    return pairs.reshape(pad.shape)[:L]


def output_recurrence(delta: Float[Array, "L H"], m_y: Float[Array, "ky H H"], *,
                      method: str = "scan") -> Float[Array, "L H"]:
    """ŷ_t = Σ_{j=1}^{k_y} ŷ_{t-j} M^y_j + Δ_t, by `lax.scan` or an associative scan [STU, eq. (6)]."""
    L, H = delta.shape
    k_y = m_y.shape[0]
    if method == "scan":

        def step(past, d_t):  # past[j] = ŷ_{t-1-j}
            y_t = d_t + jnp.einsum("jh,jho->o", past, m_y)
            return jnp.concatenate([y_t[None], past[:-1]], axis=0), y_t

        return lax.scan(step, jnp.zeros((k_y, H), delta.dtype), delta)[1]
    if method != "associative":
        raise ValueError(f"ar_method must be one of {AR_METHODS}; got {method!r}.")
    # Companion form on the row state s_t = [ŷ_t, ..., ŷ_{t-k_y+1}]: s_t = s_{t-1} A + [Δ_t, 0, ...].
    P = k_y * H
    a = jnp.zeros((P, P), delta.dtype).at[:, :H].set(m_y.reshape(P, H))
    if k_y > 1:
        a = a.at[: P - H, H:].set(jnp.eye(P - H, dtype=delta.dtype))
    b = jnp.concatenate([delta, jnp.zeros((L, P - H), delta.dtype)], axis=1)

    def combine(left, right):
        a_l, b_l = left
        a_r, b_r = right
        return a_l @ a_r, jnp.einsum("...p,...pq->...q", b_l, a_r) + b_r

    a_all = jnp.broadcast_to(a, (L, P, P))
    return lax.associative_scan(combine, (a_all, b), axis=0)[1][:, :H]


def with_initial_outputs(delta: Float[Array, "L H"], past: Float[Array, "ky H"],
                         m_y: Float[Array, "ky H H"]) -> Float[Array, "L H"]:
    """Δ_t + Σ_{j=t+1}^{k_y} past[j-t-1] M^y_j for t < k_y, with past[i] = ŷ_{-1-i} [STU, eq. (6), restarted]."""
    k, L = past.shape[0], delta.shape[0]
    for t in range(min(k, L)):
        delta = delta.at[t].add(sum(past[j - t - 1] @ m_y[j - 1] for j in range(t + 1, k + 1)))
    return delta
