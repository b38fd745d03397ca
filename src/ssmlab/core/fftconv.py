r"""Causal (linear, not circular) convolution by FFT.

For a kernel k of length Lk and an input u of length L, per channel

    y_t = \sum_{s=0}^{\min(t, Lk-1)} k_s u_{t-s},      t = 0..L-1.

Both are zero-padded to n >= L + Lk - 1 (a power of two), transformed with `rfft`, multiplied
bin by bin and transformed back; the first L samples are the causal output. Padding to less
than L + Lk - 1 would wrap the tail of the output onto its head (circular convolution).
Half-precision inputs are cast to float32 before the transform (`jnp.fft` rejects bf16) and
the result is cast back to the input dtype. Complex inputs use the full complex FFT.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Inexact, Num

from .checks import as_inexact, check_length, float_inputs


def fft_size(total_length: int) -> int:
    """Smallest power of two >= `total_length` (the FFT size for a linear convolution)."""
    check_length("total_length", total_length)
    return 1 << (int(total_length) - 1).bit_length()


def _forward(x, n: int, complex_: bool):
    return jnp.fft.fft(x, n=n, axis=0) if complex_ else jnp.fft.rfft(x, n=n, axis=0)


def _inverse(x, n: int, complex_: bool):
    return jnp.fft.ifft(x, n=n, axis=0) if complex_ else jnp.fft.irfft(x, n=n, axis=0)


def _check_pair(u, kernel) -> None:
    if u.ndim < 1 or u.shape[0] == 0:
        raise ValueError(f"u must have a non-empty leading time axis [L, ...]; got shape {tuple(u.shape)}.")
    if kernel.ndim < 1 or kernel.shape[0] == 0:
        raise ValueError(
            f"kernel must have a non-empty leading time axis [Lk, ...]; got shape {tuple(kernel.shape)}."
        )


def causal_conv(u: Num[Array, "L *C"], kernel: Num[Array, "Lk *D"]) -> Inexact[Array, "L *C"]:
    """Causal convolution y_t = sum_s k_s u_{t-s}, channel by channel, via zero-padded FFT.

    Args:
        u: input [L, *C] (time first; any trailing channel shape).
        kernel: impulse response [Lk, *C] with the same trailing shape (Lk may differ from L).

    Returns:
        y: [L, *C] in the promoted input dtype (bf16/fp16 in, same out; the FFT runs in fp32;
        integer inputs give the default float dtype).

    >>> import jax.numpy as jnp
    >>> causal_conv(jnp.array([1.0, 0.0, 0.0]), jnp.array([1.0, 2.0, 3.0]))
    Array([1., 2., 3.], dtype=float32)
    """
    (u, kernel), out_dtype = float_inputs(("u", u), ("kernel", kernel))
    _check_pair(u, kernel)
    if u.shape[1:] != kernel.shape[1:]:
        raise ValueError(
            f"u and kernel must share their channel shape; got u {tuple(u.shape)} and kernel "
            f"{tuple(kernel.shape)}. Use causal_conv_mixing for channel-mixing (MIMO) kernels."
        )
    complex_ = jnp.issubdtype(out_dtype, jnp.complexfloating)
    L = u.shape[0]
    n = fft_size(L + kernel.shape[0] - 1)
    spec = _forward(u, n, complex_) * _forward(kernel, n, complex_)
    return _inverse(spec, n, complex_)[:L].astype(out_dtype)


def causal_conv_bins(
    u: Float[Array, "L *C"], bin_map: Callable[[Array], Array], *, n: int
) -> Float[Array, "L *D"]:
    """irfft(bin_map(rfft(u, n)), n)[:L]: a linear map applied bin by bin in frequency, read causally.

    The one place where the transforms of a precomputed-spectrum convolution live. `bin_map` takes
    the bins [n//2+1, *C] and returns bins [n//2+1, *D]; when it multiplies by (sums of) kernel
    spectra rfft(k, n) with n >= L + Lk - 1 the result is the linear, causal convolution (shorter
    n would wrap the tail around). Channel mixing (weights contracted with the bins) happens inside
    `bin_map`, so the transform count is that of its input and output channels. `u` must be a real
    float array (no promotion here: callers choose the working dtype).
    """
    if u.ndim < 1 or u.shape[0] == 0:
        raise ValueError(f"u must have a non-empty leading time axis [L, ...]; got shape {tuple(u.shape)}.")
    if n < u.shape[0]:
        raise ValueError(f"n must be at least L={u.shape[0]} (and >= L + Lk - 1 to stay causal); got {n}.")
    return jnp.fft.irfft(bin_map(jnp.fft.rfft(u, n=n, axis=0)), n=n, axis=0)[: u.shape[0]]


def causal_conv_spectrum(
    u: Num[Array, "L *C"], spectrum: Num[Array, "m *C"], *, n: int
) -> Inexact[Array, "L *C"]:
    """Causal convolution with a precomputed kernel spectrum `rfft(kernel, n)` (n >= L + Lk - 1).

    Used where the kernel is fixed (STU filters) or known in closed form (frequency mode), so
    the kernel transform is done once, not per call. Real `u` only (integers become float).
    """
    out_dtype = as_inexact("u", u, complex_ok=False).dtype  # output keeps u's dtype (ints -> float)
    (u, spectrum), _ = float_inputs(("u", u), ("spectrum", spectrum), real=("u",))
    if spectrum.shape[0] != n // 2 + 1:
        raise ValueError(f"spectrum must have n//2+1 = {n // 2 + 1} rfft bins for n={n}; got {spectrum.shape[0]}.")
    return causal_conv_bins(u, lambda u_hat: u_hat * spectrum, n=n).astype(out_dtype)


def delay_spectrum(n: int, lags: int) -> np.ndarray:
    """rfft(δ_j, n) = e^{-2πi m j / n} of the unit delays j < `lags`: complex128 [n//2+1, lags], on the host.

    The phase is reduced mod n in integers first, so it stays exact for long sequences.
    """
    phase = -2.0 * np.pi * ((np.arange(n // 2 + 1)[:, None] * np.arange(lags)[None, :]) % n) / n
    return np.cos(phase) + 1j * np.sin(phase)


def host_kernel_spectrum(kernels, n: int) -> np.ndarray:
    """rfft(kernels, n) along axis 0 in float64 on the host (kernels fixed at construction): complex128."""
    return np.fft.rfft(np.asarray(kernels, np.float64), n=n, axis=0)


def causal_conv_mixing(
    u: Num[Array, "L Hin"], kernel: Num[Array, "Lk Hout Hin"]
) -> Float[Array, "L Hout"]:
    """MIMO causal convolution y_t[o] = sum_s sum_i k_s[o, i] u_{t-s}[i] (channel mixing in frequency).

    Each input channel is transformed once, the (Hout, Hin) contraction runs bin by bin, and
    each output channel is transformed back once: Hin + Hout transforms, not Hin * Hout.
    A complex kernel contributes its real part (real input and output); complex `u` is refused.
    """
    (u, kernel), out_dtype = float_inputs(("u", u), ("kernel", jnp.real(kernel)), real=("u",))
    _check_pair(u, kernel)
    if u.ndim != 2 or kernel.ndim != 3 or kernel.shape[2] != u.shape[1]:
        raise ValueError(
            f"expected u [L, Hin] and kernel [Lk, Hout, Hin] with matching Hin; got u {tuple(u.shape)}, "
            f"kernel {tuple(kernel.shape)}."
        )
    L = u.shape[0]
    n = fft_size(L + kernel.shape[0] - 1)
    u_hat = jnp.fft.rfft(u, n=n, axis=0)
    k_hat = jnp.fft.rfft(kernel, n=n, axis=0)
    y_hat = jnp.einsum("moi,mi->mo", k_hat, u_hat)
    return jnp.fft.irfft(y_hat, n=n, axis=0)[:L].astype(out_dtype)
