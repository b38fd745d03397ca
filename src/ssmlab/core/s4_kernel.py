r"""S4 convolution kernel of a DPLR system by the Cauchy + Woodbury route [S4, §3.3, Alg. 1].

Continuous system (diagonal basis): A = diag(Λ) - P Q^*, B, and the *transformed* readout
C̃ = C (I - Ā^L) that S4 trains directly. Bilinear discretisation with step Δ,

    Ā = (I - Δ/2 A)^{-1} (I + Δ/2 A),   B̄ = Δ (I - Δ/2 A)^{-1} B          [S4, eq. (3)].

The truncated generating function of K_l = C Ā^l B̄ (l < L) at z is C̃ (I - Ā z)^{-1} B̄
(the factor I - Ā^L is what C̃ absorbs), and (I - Ā z)^{-1} B̄ = Δ [(1 - z) I - Δ/2 (1 + z) A]^{-1} B.
With d_n(z) = (1 - z)/Δ - Λ_n (1 + z)/2 and the Cauchy sums s_xy(z) = Σ_n x_n y_n / d_n(z),
the Woodbury identity for the rank-one term gives

    K̂(z) = s_{C̃B} - ((1 + z)/2) s_{C̃P} s_{Q^*B} / (1 + ((1 + z)/2) s_{Q^*P}).

This is S4 Algorithm 1 (its 2/(1+z) [k00 - k01 (1 + k11)^{-1} k10]) multiplied through by
(1 + z)/2 (our rewrite): Algorithm 1 as printed is 0 · ∞ at z = -1, a root of unity for every
even L; here every term is finite there (d_n(-1) = 2/Δ). Evaluated at the L-th roots of unity
z_k = e^{-2πik/L}, an inverse DFT returns K_0..K_{L-1}. No power of A is formed.

ZOH is not offered: exp(Δ A) of a DPLR matrix is not DPLR, so there is no Cauchy form for it
(S4 uses bilinear for DPLR; S4D, `layers/s4d.py`, has ZOH for the diagonal case).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._typing import Array, Complex, Float, Inexact
from .checks import check_length


def dft_points(length: int, *, bins: int) -> Complex[Array, " m"]:
    """z_k = e^{-2πik/L}, k < bins (numpy's forward-DFT sign)."""
    return jnp.asarray(np.exp(-2j * np.pi * np.arange(bins) / length))


def dplr_kernel_spectrum(
    lam: Complex[Array, " N"], p: Complex[Array, " N"], q: Complex[Array, " N"], b: Complex[Array, " N"],
    c_tilde: Complex[Array, " N"], dt: Float[Array, ""] | float, z: Complex[Array, " m"],
) -> Complex[Array, " m"]:
    """K̂(z) = s_{C̃B} - ((1+z)/2) s_{C̃P} s_{Q*B} / (1 + ((1+z)/2) s_{Q*P}) [S4, Alg. 1, Woodbury, rewritten].

    Args:
        lam: [N] diagonal of the normal part, A = diag(lam) - p q^*.
        p: [N] first low-rank vector.
        q: [N] second low-rank vector.
        b: [N] input vector in the diagonal basis.
        c_tilde: [N] readout C̃ = C (I - Ā^L) in the diagonal basis.
        dt: step Δ (scalar).
        z: [m] evaluation points on the unit circle.
    """
    half = (1.0 + z) / 2.0
    denom = (1.0 - z)[:, None] / dt - lam[None, :] * half[:, None]  # d_n(z): [m, N]
    qc = jnp.conj(q)
    rows = jnp.stack([c_tilde, qc])  # [2, N]
    cols = jnp.stack([b, p])  # [2, N]
    # all four Cauchy sums s_xy at once: [m, 2, 2]
    s = jnp.einsum("xn,yn,mn->mxy", rows, cols, 1.0 / denom)
    return s[:, 0, 0] - half * s[:, 0, 1] * s[:, 1, 0] / (1.0 + half * s[:, 1, 1])


def dplr_kernel(
    lam: Complex[Array, "..."], p: Complex[Array, "..."], b: Complex[Array, "..."], c_tilde: Complex[Array, "..."],
    dt: Float[Array, ""] | float, *, length: int, q: Complex[Array, "..."] | None = None, conj_pairs: bool = True,
) -> Inexact[Array, " L"]:
    """Kernel K_l = C Ā^l B̄, l < length, of a bilinear DPLR system from C̃ = C(I - Ā^L) [S4, Alg. 1].

    Args:
        lam: diagonal-basis Λ. With `conj_pairs` this and the next three are the M = N/2 modes
            with their conjugates implied (a real system): the kernel is real, evaluated on the
            L//2+1 rfft bins. Otherwise all N modes; the kernel is complex (full DFT grid).
        p: diagonal-basis P (same modes as `lam`).
        b: diagonal-basis B (same modes as `lam`).
        c_tilde: diagonal-basis C̃ (same modes as `lam`).
        dt: step Δ (scalar).
        length: L, also the length C̃ refers to.
        q: the second low-rank vector Q (default Q = P, as for HiPPO-LegS).

    Returns:
        K [L], real with `conj_pairs`, complex otherwise.
    """
    check_length("length", length)
    shapes = {name: x.shape for name, x in (("lam", lam), ("p", p), ("b", b), ("c_tilde", c_tilde))}
    if q is not None:
        shapes["q"] = q.shape
    if len({s for s in shapes.values()}) != 1 or lam.ndim != 1:
        raise ValueError(f"lam, p, q, b, c_tilde must all have the same shape [M]; got {shapes}.")
    q = p if q is None else q
    # the grid follows the parameters' precision (complex64 in, float32 kernel out)
    ctype = jnp.result_type(lam, p, q, b, c_tilde, jnp.complex64)
    if conj_pairs:
        lam, p, q, b, c_tilde = (jnp.concatenate([x, jnp.conj(x)]) for x in (lam, p, q, b, c_tilde))
        z = dft_points(length, bins=length // 2 + 1).astype(ctype)
        return jnp.fft.irfft(dplr_kernel_spectrum(lam, p, q, b, c_tilde, dt, z), n=length)
    z = dft_points(length, bins=length).astype(ctype)
    return jnp.fft.ifft(dplr_kernel_spectrum(lam, p, q, b, c_tilde, dt, z), n=length)


def dense_bilinear(a: Inexact[Array, "N N"], b: Inexact[Array, " N"], dt) -> tuple[Array, Array]:
    """Dense bilinear discretisation (Ā, B̄) = ((I - Δ/2 A)^{-1}(I + Δ/2 A), Δ (I - Δ/2 A)^{-1} B) [S4, eq. (3)]."""
    eye = jnp.eye(a.shape[0], dtype=a.dtype)
    left = eye - 0.5 * dt * a
    return jnp.linalg.solve(left, eye + 0.5 * dt * a), dt * jnp.linalg.solve(left, b)


def dplr_dense(lam: Complex[Array, " M"], p: Complex[Array, " M"], q: Complex[Array, " M"] | None = None, *,
               conj_pairs: bool = True) -> Complex[Array, "N N"]:
    """The dense diagonal-basis matrix A = diag(Λ) - P Q^* (conjugate modes appended with `conj_pairs`)."""
    q = p if q is None else q
    if conj_pairs:
        lam, p, q = (jnp.concatenate([x, jnp.conj(x)]) for x in (lam, p, q))
    return jnp.diag(lam) - jnp.outer(p, jnp.conj(q))


def dplr_step_system(
    lam: Complex[Array, " M"], p: Complex[Array, " M"], b: Complex[Array, " M"], c_tilde: Complex[Array, " M"],
    dt, *, length: int,
) -> tuple[Complex[Array, "N N"], Complex[Array, " N"], Complex[Array, " N"]]:
    """Recurrent form (Ā, B̄, C), C = C̃ (I - Ā^L)^{-1}, of a conjugate-pair DPLR system [S4, eq. (3), §3.4].

    x_k = Ā x_{k-1} + B̄ u_k, y_k = Re(C x_k) has the impulse response `dplr_kernel(..., length=L)` for
    lags < L (conjugate modes appended, N = 2M). JAX, dense: O(N³ log L) via `matrix_power`.
    """
    check_length("length", length)
    a = dplr_dense(lam, p)
    a_bar, b_bar = dense_bilinear(a, jnp.concatenate([b, jnp.conj(b)]), dt)
    eye = jnp.eye(a.shape[0], dtype=a_bar.dtype)
    c_full = jnp.concatenate([c_tilde, jnp.conj(c_tilde)])
    c = jnp.linalg.solve((eye - jnp.linalg.matrix_power(a_bar, length)).T, c_full)
    return a_bar, b_bar, c


def dense_equivalent(
    lam: Complex[Array, " M"], p: Complex[Array, " M"], b: Complex[Array, " M"], c_tilde: Complex[Array, " M"],
    dt: float, *, length: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dense bilinear system (Ā [N, N], B̄ [N], C [N]) of a conjugate-pair DPLR model, C = C̃ (I - Ā^L)^{-1}.

    NumPy float64 (`matrix_power` and `solve`), for references and benchmarks; the layer never forms it.
    """
    lam, p, b, c_tilde = (np.asarray(x, np.complex128) for x in (lam, p, b, c_tilde))
    a = np.diag(np.concatenate([lam, lam.conj()]))
    p_full = np.concatenate([p, p.conj()])
    a = a - np.outer(p_full, p_full.conj())
    a_bar, b_bar = (np.asarray(x) for x in dense_bilinear(jnp.asarray(a), jnp.asarray(np.concatenate([b, b.conj()])),
                                                            float(dt)))
    eye = np.eye(a.shape[0])
    c = np.linalg.solve((eye - np.linalg.matrix_power(a_bar, length)).T, np.concatenate([c_tilde, c_tilde.conj()]))
    return a_bar, b_bar, c
