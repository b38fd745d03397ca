"""STU evaluation orders side by side, and the AR-STU output recurrence (scan vs associative scan).

Spectral term of one exact STU layer, batch via vmap, float32, both branches (J = 2K kernels).
Transforms of length n ≈ 2L per sequence (performance spec §(b)):

* ``A_repeat`` (flash-stu's standard path, written here only for the benchmark): FFT of K copies of
  every input channel: J·H_in forward + J·H_in inverse;
* ``features`` (A′): H_in forward + J·H_in inverse, contraction in time;
* ``contract_first`` (B): J·H_out forward + H_out inverse;
* ``frequency`` (C): H_in forward + H_out inverse, contraction on the rfft bins
  (real and imaginary parts as one real matmul, 2× the real contraction FLOPs).

* ``transfer`` (C2, the default while W fits): per-bin transfer matrices W[m] = Σ_j Φ_j[m] M_j built
  once per batch (vmap leaves them unbatched), then one H_in x H_out complex product per bin and sequence.

The reference is A′ (the straightforward order of the library). `approx` (the tensordot class, a
different function) is timed in its own case against the exact default.

``ar_stu_taps``: one training-style step (loss and gradient of a batch) of AR-STU (learnable M^y)
with k_u = 0 (reference), k_u = 3 with the direct shifted-matmul taps added after the spectral
term (the route before issue 17, written here for the benchmark), and k_u = 3 as the layer
computes it now (taps folded into the transfer matrices as delay kernels).
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ssmlab.core.ar_recurrence import output_recurrence
from ssmlab.core.stu import ORDERS, input_taps, spectral_term
from ssmlab.layers.stu import STU, STUApprox

from .harness import compare


def _randomized(layer, seed=0):
    rng = np.random.default_rng(seed)
    for name in ("m_phi_plus", "m_phi_minus"):
        old = getattr(layer, name)
        layer = eqx.tree_at(lambda m, n=name: getattr(m, n), layer,
                            jnp.asarray(rng.standard_normal(old.shape) / np.sqrt(old.shape[0] * old.shape[1]),
                                        old.dtype))
    return layer


def _a_repeat(layer, u):
    """flash-stu's order: every (filter, channel) pair is transformed on its own, then contracted."""
    n, L = layer.fft_n, u.shape[0]
    spec = layer.spectrum(u.dtype)  # [m, J]
    J = spec.shape[1]
    copies = jnp.broadcast_to(u[:, None, :], (L, J, u.shape[1]))
    copies = copies + jnp.zeros((1, J, 1), u.dtype) * jnp.arange(J, dtype=u.dtype)[None, :, None]  # defeat CSE
    feats = jnp.fft.irfft(jnp.fft.rfft(copies, n=n, axis=0) * spec[:, :, None], n=n, axis=0)[:L]
    return jnp.einsum("lji,jio->lo", feats, layer.m_phi)


def _err(out, ref):
    return float(jnp.max(jnp.abs(out - ref)) / jnp.max(jnp.abs(ref)))


def spectral_orders(B: int, H: int, K: int, L: int, repeats: int) -> list[dict]:
    """Time the exact orders of the spectral term (flash preset: no AR terms, d = 0)."""
    base = _randomized(STU(d_model=H, seq_len=L, num_filters=K, preset="flash", key=jr.key(0)))
    us = jr.normal(jr.key(1), (B, L, H), jnp.float32)
    run = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))
    fns = {o: partial(run, base.with_methods(order=o), us) for o in ORDERS}
    fns["A_repeat"] = partial(eqx.filter_jit(lambda m, x: jax.vmap(partial(_a_repeat, m))(x)), base, us)
    return compare("stu_order", fns, reference="features", check=_err, tol=1e-4, repeats=repeats,
                   params={"B": B, "H": H, "K": K, "L": L, "branches": 2, "dtype": "float32"})


def approx_vs_exact(B: int, H: int, K: int, L: int, repeats: int) -> list[dict]:
    """The tensordot approximation (a smaller class) against the default exact order; no accuracy check."""
    exact = _randomized(STU(d_model=H, seq_len=L, num_filters=K, preset="flash", key=jr.key(0)))
    approx = STUApprox(d_model=H, seq_len=L, num_filters=K, preset="flash", key=jr.key(0))
    us = jr.normal(jr.key(1), (B, L, H), jnp.float32)
    run = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))
    fns = {"exact_default": partial(run, exact, us), "tensordot_approx": partial(run, approx, us)}
    return compare("stu_approx", fns,
                   reference="exact_default", repeats=repeats,
                   params={"B": B, "H": H, "K": K, "L": L, "note": "different function class, speed only"})


def ar_methods(B: int, H: int, k_y: int, L: int, repeats: int) -> list[dict]:
    """Output recurrence of AR-STU, eq. (6): lax.scan vs associative scan on the companion state."""
    rng = np.random.default_rng(0)
    m_y = jnp.asarray(rng.standard_normal((k_y, H, H)) * 0.5 / (k_y * np.sqrt(H)), jnp.float32)
    deltas = jr.normal(jr.key(2), (B, L, H), jnp.float32)
    fns = {m: partial(jax.jit(jax.vmap(partial(output_recurrence, method=m), in_axes=(0, None))), deltas, m_y)
           for m in ("scan", "associative")}
    return compare("ar_stu_recurrence", fns, reference="scan", check=_err, tol=1e-4, repeats=repeats,
                   params={"B": B, "H": H, "k_y": k_y, "L": L, "dtype": "float32"})


def _direct_taps_call(layer, u):
    """AR-STU forward with the taps as k_u shifted matmuls after the spectral term (the former route)."""
    delta = spectral_term(u, layer.spectrum(u.dtype), layer.m_phi, n=layer.fft_n, order=layer.order)
    delta = delta + input_taps(u, layer.m_u)
    return output_recurrence(delta, layer.m_y, method=layer.ar_method)


def ar_input_taps(B: int, H: int, L: int, repeats: int) -> list[dict]:
    """Cost of the input taps in a loss+gradient step: k_u = 3 (direct, folded) against k_u = 0."""
    us = jr.normal(jr.key(1), (B, L, H), jnp.float32)

    def grad_step(layer, call):
        params, static = eqx.partition(layer, eqx.is_array)

        def loss(p):
            m = eqx.combine(p, static)
            return jnp.mean(jax.vmap(partial(call, m))(us) ** 2)

        return partial(jax.jit(jax.value_and_grad(loss)), params)

    layers = {k_u: _randomized(STU(d_model=H, seq_len=L, num_filters=24, preset="paper_ar_stu", k_u=k_u, init="normal",
                                   key=jr.key(0))) for k_u in (0, 3)}
    assert layers[3].order == "transfer"
    fns = {"k_u=0": grad_step(layers[0], lambda m, u: m(u)),
           "k_u=3_direct_taps": grad_step(layers[3], _direct_taps_call),
           "k_u=3_folded": grad_step(layers[3], lambda m, u: m(u))}
    folded, direct = fns["k_u=3_folded"](), fns["k_u=3_direct_taps"]()
    err = float(jnp.abs(folded[0] - direct[0]) / jnp.abs(direct[0]))
    if not err <= 1e-5:
        raise AssertionError(f"folded and direct taps disagree: relative loss error {err:.1e}")
    return compare("ar_stu_taps", fns, reference="k_u=0", repeats=repeats,
                   params={"B": B, "H": H, "L": L, "K": 24, "k_y": 2, "dtype": "float32",
                           "folded_vs_direct_loss_err": err, "step": "loss+grad"})


def main(full: bool = False) -> None:
    """Print the STU order table (ratios vs the straightforward order A′) and the AR recurrence table."""
    grid = ([(1, 32, 24, 1024), (8, 32, 24, 1024)] if not full
            else [(1, 64, 24, 4096), (16, 64, 24, 4096), (4, 128, 24, 4096)])
    for B, H, K, L in grid:
        spectral_orders(B, H, K, L, repeats=5 if not full else 10)
    approx_vs_exact(*grid[-1], repeats=5 if not full else 10)
    for H, k_y, L in ([(16, 2, 1024)] if not full else [(64, 2, 4096), (16, 32, 4096)]):
        ar_methods(4, H, k_y, L, repeats=5 if not full else 10)
    for B, H, L in ([(16, 64, 128), (32, 64, 256)] if not full else [(16, 64, 128), (32, 64, 256), (8, 128, 1024)]):
        ar_input_taps(B, H, L, repeats=9 if not full else 15)


if __name__ == "__main__":
    main()
