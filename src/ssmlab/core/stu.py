r"""Spectral Transform Unit maths on arrays [STU, eqs. (4)-(6)]: kernels, spectral term, input taps, AR output.

With spectral filters (σ_k, φ_k) of Z (or Z_L), delay d and row-vector weights (u_t[i] M[i, o]),

    ŷ_t = Σ_{j=1}^{k_y} ŷ_{t-j} M^y_j + Σ_{j=0}^{k_u-1} u_{t-j} M^u_j + Δ_t,
    Δ_t = Σ_k σ_k^{1/4} (U⁺_{t-d,k} M^{φ+}_k + U⁻_{t-d,k} M^{φ-}_k),

where U^±_{t,k} = Σ_{i<t} (±1)^i φ_k(i) u_{t-i}. The delay and σ^{1/4} are folded into the kernels
κ_j (`stu_kernels`), so Δ_t = Σ_j (κ_j * u)_t M_j, a sum of causal convolutions evaluated through
`core.fftconv.causal_conv_bins` from the kernels' spectrum rfft(κ, n), n >= 2L - 1, in one of four
exact orders (`ORDERS`; J kernels, counts of length-n transforms):

* ``features`` (A′): the J·H_in features (κ_j * u_i), then the (j, i) -> o contraction in time.
  H_in + J·H_in.
* ``contract_first`` (B): v_j = u M_j in time, transformed, Σ_j Φ_j v̂_j in frequency. J·H_out + H_out.
* ``frequency`` (C): the contraction of G[m, j, i] = Φ_j[m] û_i[m] with the real M bin by bin
  (real and imaginary parts as one real matmul). H_in + H_out.
* ``transfer`` (C2): per-bin transfer matrices W[m] = Σ_j Φ_j[m] M_j [H_in, H_out], independent of
  u (built once per batch under `vmap`), then ŷ[m] = û[m] W[m]. H_in + H_out, with H_in·H_out
  complex MACs per bin and sequence instead of J·H_in·H_out.

The output recurrences themselves are in `core.ar_recurrence`; `autoregressive_output` adds the
input taps and runs the recurrence of the chosen mode. The layers (`layers.stu`) hold the weights.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Complex, Float

from .ar_recurrence import AR_METHODS as AR_METHODS
from .ar_recurrence import eq4_recurrence, output_recurrence
from .fftconv import causal_conv_bins, delay_spectrum

ORDERS = ("frequency", "contract_first", "features", "transfer")
M_Y_MODES = ("none", "fixed_eq4", "learnable")
TRANSFER_MAX_ELEMENTS = 2**27  # complex entries of W (1 GiB in complex64) above which "auto" picks "frequency"


def choose_order(*, fft_n: int, d_in: int, d_out: int) -> str:
    """The order "auto" resolves to: "transfer" while W [n/2+1, H_in, H_out] stays small, else "frequency"."""
    return "transfer" if (fft_n // 2 + 1) * d_in * d_out <= TRANSFER_MAX_ELEMENTS else "frequency"


def stu_kernels(sigma, phi, *, filter_delay: int, branches: str) -> np.ndarray:
    """κ⁺_k(j) = σ_k^{1/4} φ_k(j-d) and κ⁻_k(j) = (-1)^{j-d} κ⁺_k(j), j < L [STU, eq. (4)]; float64 [L, J]."""
    sigma, phi = np.asarray(sigma, np.float64), np.asarray(phi, np.float64)
    L = phi.shape[0]
    plus = np.zeros_like(phi)
    plus[filter_delay:] = phi[: L - filter_delay] * np.maximum(sigma, 0.0)[None, :] ** 0.25
    if branches == "plus":
        return plus
    sign = np.where((np.arange(L) - filter_delay) % 2 == 0, 1.0, -1.0)
    return np.concatenate([plus, sign[:, None] * plus], axis=1)


def shift(x: Array, lag: int) -> Array:
    """x delayed by `lag` steps along axis 0 (zeros shifted in)."""
    if lag == 0:
        return x
    L = x.shape[0]
    pad = jnp.zeros((min(lag, L),) + x.shape[1:], x.dtype)
    return jnp.concatenate([pad, x[: max(L - lag, 0)]], axis=0)


def input_taps(u: Float[Array, "L Hin"], m_u: Float[Array, "ku Hin Hout"]) -> Float[Array, "L Hout"]:
    """Σ_{j=0}^{k_u-1} u_{t-j} M^u_j, the auto-regressive input terms [STU, eq. (4)]."""
    return sum(shift(u, j) @ m_u[j] for j in range(m_u.shape[0]))


def taps_foldable(k_u: int, *, n: int, seq_len: int) -> bool:
    """Whether delays j < k_u fit in the length-n circular FFT without wrapping onto L outputs (j <= n - L)."""
    return k_u <= n - seq_len + 1


def fold_input_taps(spectrum: Complex[Array, "m J"], m: Float[Array, "J Hin Hout"],
                    m_u: Float[Array, "ku Hin Hout"], *, n: int) -> tuple[Array, Array]:
    """Kernels and weights extended by the input taps: u_{t-j} M^u_j is the causal convolution of u with
    the unit delay δ_j, whose rfft is e^{-2πi m j/n} [STU, eq. (4)].

    With order "transfer" the taps then enter W[m] = Σ_j Φ_j[m] M_j, built once per batch, and cost
    nothing per sequence (the direct shifted matmuls were 1.5-3x the k_u = 0 step on CPU at batch 32;
    benchmarks/bench_stu.py). Exact for delays j <= n - L (no wrap-around, `taps_foldable`).
    """
    delays = jnp.asarray(delay_spectrum(n, m_u.shape[0]), spectrum.dtype)  # float64 on the host, then cast
    return jnp.concatenate([spectrum, delays], axis=1), jnp.concatenate([m, m_u.astype(m.dtype)], axis=0)


def spectral_features(u: Float[Array, "L Hin"], spectrum: Complex[Array, "m J"], *,
                      n: int) -> Float[Array, "L J Hin"]:
    """The features (κ_j * u_i)_t, i.e. σ_j^{1/4} U^±_{t-d, j} per input channel [STU, eq. (4)]."""
    return causal_conv_bins(u, lambda u_hat: spectrum[:, :, None] * u_hat[:, None, :], n=n)


def spectral_term(u: Float[Array, "L Hin"], spectrum: Complex[Array, "m J"], m: Float[Array, "J Hin Hout"], *,
                  n: int, order: str = "transfer") -> Float[Array, "L Hout"]:
    """Δ_t = Σ_j (κ_j * u)_t M_j by causal FFT convolution (`spectrum` = rfft(κ, n) [m, J]) [STU, eq. (4)]."""
    if order == "features":  # A′
        return jnp.einsum("lji,jio->lo", spectral_features(u, spectrum, n=n), m)
    if order == "contract_first":  # B
        v = jnp.einsum("li,jio->ljo", u, m)
        return causal_conv_bins(v, lambda v_hat: jnp.einsum("mjo,mj->mo", v_hat, spectrum), n=n)
    if order == "frequency":  # C
        def contract(u_hat):
            g = spectrum[:, :, None] * u_hat[:, None, :]
            bins, J, H_in = g.shape
            ri = jnp.concatenate([g.real, g.imag], axis=0).reshape(2 * bins, J * H_in)
            y_ri = ri @ m.reshape(J * H_in, m.shape[2])
            return lax.complex(y_ri[:bins], y_ri[bins:])

        return causal_conv_bins(u, contract, n=n)
    if order == "transfer":  # C2: per-bin transfer matrices W[m] = Σ_j Φ_j[m] M_j, independent of u
        w = lax.complex(jnp.einsum("mj,jio->mio", spectrum.real, m), jnp.einsum("mj,jio->mio", spectrum.imag, m))
        return causal_conv_bins(u, lambda u_hat: jnp.einsum("mi,mio->mo", u_hat, w), n=n)
    raise ValueError(f"order must be one of {ORDERS}; got {order!r}.")


def tensordot_term(u: Float[Array, "L Hin"], spectrum: Complex[Array, "m J"], m_inputs: Float[Array, "Hin Hout"],
                   m_filters: Float[Array, "J Hout"], *, n: int) -> Float[Array, "L Hout"]:
    """Σ_j (κ_j * (u M_in)_o)_t M_f[j, o]: Δ of [STU, eq. (4)] restricted to M_j[i, o] = M_f[j, o] M_in[i, o].

    (ours: Flash STU's `use_approx` tensordot form written as that restriction of eq. (4).)

    One causal convolution per output channel o with its own filter Σ_j M_f[j, o] κ_j (rank one per
    channel, so a strictly smaller class than `spectral_term`): H_out + H_out transforms.
    """
    channel = lax.complex(spectrum.real @ m_filters, spectrum.imag @ m_filters)
    return causal_conv_bins(u @ m_inputs, lambda v_hat: v_hat * channel, n=n)


def autoregressive_output(u: Float[Array, "L Hin"], delta: Float[Array, "L Hout"], *,
                          m_u: Float[Array, "ku Hin Hout"] | None, m_y: Float[Array, "ky Hout Hout"] | None,
                          m_y_mode: str, method: str = "scan") -> Float[Array, "L Hout"]:
    """ŷ_t = Σ_j ŷ_{t-j} M^y_j + Σ_j u_{t-j} M^u_j + Δ_t (`m_u` None: taps absent or already in Δ) [STU, eqs. (4), (6)].

    `m_y_mode` "fixed_eq4" is eq. (4)'s ŷ_{t-2} + ..., "learnable" eq. (6) with `m_y`, "none" no recurrence.
    """
    if m_u is not None:
        delta = delta + input_taps(u, m_u)
    if m_y_mode == "fixed_eq4":
        return eq4_recurrence(delta)
    if m_y_mode == "learnable":
        return output_recurrence(delta, m_y, method=method)
    if m_y_mode != "none":
        raise ValueError(f"m_y_mode must be one of {M_Y_MODES}; got {m_y_mode!r}.")
    return delta
