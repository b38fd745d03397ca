r"""Impulse responses and frequency responses of diagonal LTI SSMs.

System (per layer, diagonal A):  x_t = a ⊙ x_{t-1} + b u_t,  y_t = c x_t   (x_{-1} = 0),
with a [N], b [N, Hin] (or [N] for SISO), c [Hout, N] (or [N]).

* Impulse response (kernel):   K_t = c diag(a^t) b,  t = 0..L-1.
* Frequency response on the L-point DFT grid, z_k = e^{-2πik/L} (numpy's DFT sign):
      H_k = Σ_i c_i b_i / (1 - z_k a_i)                    [LDyn, eqs. (2), (25)]
  which is the DFT of the *infinite* impulse response (needs |a| < 1).

Finite-L relations (exact; the paper's Y_k = H_k U_k is only the first one):
1. Periodic steady state: IDFT_L(H_k U_k) is the output when the input is repeated forever
   (circular convolution with the infinite kernel). It equals the causal zero-state output
   plus the transient c diag(a^{t+1}) x_p, with x_p = (1 - a^L)^{-1} ⊙ x_{L-1} the
   periodic initial state. The two agree up to O(max|a|^{t+1}).
2. The length-L kernel has spectrum, on any grid w_j = e^{-2πij/n},
      K̂_j = Σ_i c_i b_i (1 - (a_i w_j)^L) / (1 - a_i w_j),
   so on the L-point grid (w^L = 1) it is H_k (1 - a^L) mode by mode. With n >= 2L - 1
   this closed form gives the exact causal output without materialising the kernel
   (`causal_output_frequency`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._typing import Array, Complex, Diagonal, Float, Inexact, Num
from .checks import check_length, check_rank, float_inputs, stable
from .fftconv import fft_size


def _as_mimo(b, c):
    """Return (b [N, Hin], c [Hout, N], siso flag)."""
    check_rank("b", b, (1, 2), "[N] for SISO or [N, Hin]")
    check_rank("c", c, (1, 2), "[N] for SISO or [Hout, N]")
    siso = b.ndim == 1 and c.ndim == 1
    b2 = b[:, None] if b.ndim == 1 else b
    c2 = c[None, :] if c.ndim == 1 else c
    if b2.shape[0] != c2.shape[1]:
        raise ValueError(f"b [N, Hin] and c [Hout, N] must share N; got b {tuple(b.shape)}, c {tuple(c.shape)}.")
    return b2, c2, siso


def _check_a(a, n_state: int) -> None:
    if a.shape != (n_state,):
        raise ValueError(f"a must be the diagonal of A with shape [N]=({n_state},); got {tuple(a.shape)}.")


def _grid(z, like) -> Array:
    """DFT points as a complex array of `like`'s precision (complex64 for float32 systems)."""
    return jnp.asarray(z).astype(jnp.promote_types(like.dtype, jnp.complex64))


def _complex(dtype) -> jnp.dtype:
    return jnp.promote_types(dtype, jnp.complex64)


def _real(dtype) -> jnp.dtype:
    return jnp.dtype(jnp.finfo(dtype).dtype)


def _squeeze(x, siso: bool):
    return x[:, 0, 0] if siso else x


def ssm_kernel(
    a: Diagonal, b: Num[Array, "..."], c: Num[Array, "..."], *, length: int
) -> Inexact[Array, "L *HH"]:
    """Impulse response K_t = c diag(a^t) b for t < length [S4, eq. (5)].

    Returns [L, Hout, Hin] (or [L] for SISO b [N], c [N]).

    >>> import jax.numpy as jnp
    >>> ssm_kernel(jnp.array([0.5]), jnp.array([1.0]), jnp.array([2.0]), length=3)
    Array([2. , 1. , 0.5], dtype=float32)
    """
    check_length("length", length)
    (a, b, c), out_dtype = float_inputs(("a", a), ("b", b), ("c", c))
    b2, c2, siso = _as_mimo(b, c)
    _check_a(a, b2.shape[0])
    powers = jnp.power(a[None, :], jnp.arange(length)[:, None])  # [L, N]
    return _squeeze(jnp.einsum("on,tn,ni->toi", c2, powers, b2), siso).astype(out_dtype)


def dft_grid(n: int, *, bins: int | None = None) -> Complex[Array, " m"]:
    """Points z_j = e^{-2πij/n}, j = 0..bins-1 (all n by default), numpy's forward-DFT sign."""
    j = np.arange(n if bins is None else bins)
    return jnp.asarray(np.exp(-2j * np.pi * j / n))


def frequency_response(
    a: Diagonal, b: Num[Array, "..."], c: Num[Array, "..."], *, length: int
) -> Complex[Array, "L *HH"]:
    """H_k = Σ_i c_i b_i / (1 - z_k a_i), z_k = e^{-2πik/L}, k = 0..L-1 [LDyn, eqs. (2), (25)].

    The DFT of the infinite impulse response; requires a stable system (|a| < 1).
    Returns [L, Hout, Hin] (or [L] for SISO).
    """
    check_length("length", length)
    (a, b, c), out_dtype = float_inputs(("a", a), ("b", b), ("c", c))
    b2, c2, siso = _as_mimo(b, c)
    _check_a(a, b2.shape[0])
    a = stable("a", a)
    g = 1.0 / (1.0 - _grid(dft_grid(length), a)[:, None] * a[None, :])  # [L, N]
    return _squeeze(jnp.einsum("on,kn,ni->koi", c2, g, b2), siso).astype(_complex(out_dtype))


def truncated_kernel_spectrum(
    a: Diagonal,
    b: Num[Array, "..."],
    c: Num[Array, "..."],
    *,
    length: int,
    n: int,
    real_part: bool = False,
) -> Complex[Array, "m *HH"]:
    """Closed-form rfft bins j = 0..n//2 of the length-L kernel: Σ c b (1-(a w_j)^L)/(1 - a w_j).

    With `real_part=True` the spectrum is that of Re(K_t) (a complex system read out through
    its real part): (S(a, b, c) + S(ā, b̄, c̄)) / 2.
    """
    check_length("length", length)
    check_length("n", n)
    (a, b, c), out_dtype = float_inputs(("a", a), ("b", b), ("c", c))
    b2, c2, siso = _as_mimo(b, c)
    _check_a(a, b2.shape[0])
    a = stable("a", a)
    j = np.arange(n // 2 + 1)
    w = _grid(np.exp(-2j * np.pi * j / n), a)[:, None]
    # w^L computed from (j L mod n) so the phase is exact for long sequences.
    w_pow_l = _grid(np.exp(-2j * np.pi * ((j * length) % n) / n), a)[:, None]

    def one(a_, b_, c_):
        geo = (1.0 - jnp.power(a_, length)[None, :] * w_pow_l) / (1.0 - a_[None, :] * w)
        return jnp.einsum("on,kn,ni->koi", c_, geo, b_)

    spec = one(a, b2, c2)
    if real_part:
        spec = 0.5 * (spec + one(jnp.conj(a), jnp.conj(b2), jnp.conj(c2)))
    return _squeeze(spec, siso).astype(_complex(out_dtype))


def causal_output_frequency(
    a: Diagonal,
    b: Num[Array, "N Hin"],
    c: Num[Array, "Hout N"],
    u: Num[Array, "L Hin"],
) -> Float[Array, "L Hout"]:
    """Exact causal output y_t = Σ_{s<=t} Re(c a^s b) u_{t-s}, from the closed-form kernel spectrum.

    Zero-pads to n >= 2L - 1 so the product of spectra is a linear (not circular) convolution.
    """
    (a, b, c, u), out_dtype = float_inputs(("a", a), ("b", b), ("c", c), ("u", u), real=("u",))
    check_rank("u", u, (2,), "[L, Hin]")
    L = u.shape[0]
    n = fft_size(2 * L - 1)
    spec = truncated_kernel_spectrum(a, b, c, length=L, n=n, real_part=True)
    u_hat = jnp.fft.rfft(u, n=n, axis=0)
    y = jnp.fft.irfft(jnp.einsum("koi,ki->ko", spec, u_hat), n=n, axis=0)[:L]
    return y.astype(_real(out_dtype))


def periodic_output(
    a: Diagonal,
    b: Num[Array, "N Hin"],
    c: Num[Array, "Hout N"],
    u: Num[Array, "L Hin"],
) -> Float[Array, "L Hout"]:
    """Periodic steady-state output IDFT_L(H_k U_k) [LDyn, Prop. 1]: the input repeated forever.

    Differs from the causal zero-state output by the transient c diag(a^{t+1}) x_p (module doc).
    Complex systems are read out through their real part.
    """
    (a, b, c, u), out_dtype = float_inputs(("a", a), ("b", b), ("c", c), ("u", u), real=("u",))
    check_rank("u", u, (2,), "[L, Hin]")
    L = u.shape[0]
    h = frequency_response(a, b, c, length=L)
    if jnp.issubdtype(h.dtype, jnp.complexfloating) and (
        jnp.iscomplexobj(a) or jnp.iscomplexobj(b) or jnp.iscomplexobj(c)
    ):
        h_conj_sys = frequency_response(jnp.conj(a), jnp.conj(b), jnp.conj(c), length=L)
        h = 0.5 * (h + h_conj_sys)
    y_hat = jnp.einsum("koi,ki->ko", h, jnp.fft.fft(u, axis=0))
    return jnp.fft.ifft(y_hat, axis=0).real.astype(_real(out_dtype))
