r"""STU weights that reproduce a symmetric LDS: Theorem 3.1's construction and a least-squares fit [STU, §3].

For y_t from an LDS with symmetric A = Σ_l α_l v_l v_lᵀ, |α_l| <= 1 (post-update readout) and
μ(α)(j) = (α-1)α^j (ours: re-derived from the proof of Theorem 3.1 [STU, App. A]; docs/layers/stu.md),

    y_t - y_{t-2} = (CB+D) u_t + CAB u_{t-1} - D u_{t-2} + Σ_{j>=0} C A^j (A²-I) B u_{t-2-j},

and (α²-1)α^j = (1+α) μ(α)(j) for α >= 0, (1+|α|)(-1)^j μ(|α|)(j) for α < 0. Projecting μ onto the top
K eigenvectors of Z gives the STU of eq. (4) (delay d = 2, k_u = 3 input taps) with M^u = (CB+D, CAB, -D)
and M^{φ±}_k = σ_k^{-1/4} Σ_{±α_l>=0} (1+|α_l|) ⟨μ(|α_l|), φ_k⟩ C v_l v_lᵀ B; the error is set by the
spectral tail of Z, which decays exponentially in K/log L. Theorem B.1 does the same with one bank of
Z_L filters and μ_L(α)(j) = (α²-1)α^j.

The least-squares route: eq. (4) minus y_{t-2} is linear in (M^u, M^{φ±}), so the weights are fitted
to data on the regressors of `design_matrix` (the input taps and the features (κ_j * u)_t, computed
by `core.stu.spectral_features` through the shared FFT convolution).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ...core.fftconv import fft_size, host_kernel_spectrum
from ...core.stu import spectral_features

DELAY, K_U = 2, 3  # eq. (4): filters delayed by 2 steps, 3 input taps


def construction_weights(lds, sigma: np.ndarray, phi: np.ndarray, k: int, *, kind: str = "hankel"):
    """(m_u [3, d_in, d_out], m_plus, m_minus [k, d_in, d_out] or None) of the explicit construction.

    kind "hankel": Theorem 3.1 [STU, §3], two branches. kind "hankel_l": Theorem B.1 [STU, App. B], one
    bank of Z_L filters, M_k = σ_k^{-1/4} Σ_l ⟨μ_L(α_l), φ_k⟩ C v_l v_lᵀ B with μ_L(α)(j) = (α²-1)α^j.
    `lds` holds float64 matrices `a` [N, N] (symmetric), `b` [N, d_in], `c` [d_out, N], `d` [d_out, d_in]
    (e.g. `data.lds.LDS`); `sigma`, `phi` are the filters (σ [>= k], φ [L, >= k]) of Z or Z_L; filters
    with σ clamped to 0 get weight 0.
    """
    a = np.asarray(lds.a, np.float64)
    if kind not in ("hankel", "hankel_l"):
        raise ValueError(f"kind must be 'hankel' (Theorem 3.1) or 'hankel_l' (Theorem B.1); got {kind!r}.")
    if not np.allclose(a, a.T, rtol=0.0, atol=1e-12 * max(np.abs(a).max(), 1.0)):
        raise ValueError("lds.a must be symmetric (the construction diagonalises A = V diag(α) Vᵀ); symmetrise it "
                         "or use least_squares_weights.")
    if not 1 <= k <= min(np.size(sigma), np.shape(phi)[1]):
        raise ValueError(f"k must be in [1, number of filters = {min(np.size(sigma), np.shape(phi)[1])}]; got {k}.")
    alpha, v = np.linalg.eigh(a)
    b, c, d = (np.asarray(x, np.float64) for x in (lds.b, lds.c, lds.d))
    m_u = np.stack([(c @ b + d).T, (c @ a @ b).T, -d.T])
    lags = np.arange(phi.shape[0])
    modes = np.einsum("ol,il->lio", c @ v, (v.T @ b).T)  # C v_l v_lᵀ B, transposed: [N, d_in, d_out]
    scale = np.where(sigma[:k] > 0, np.maximum(sigma[:k], 1e-300) ** -0.25, 0.0)  # clamped σ = 0: drop
    if kind == "hankel_l":
        mu_l = (alpha[:, None] ** 2 - 1.0) * alpha[:, None] ** lags[None, :]
        return m_u, np.einsum("lk,lio->kio", mu_l @ phi[:, :k], modes) * scale[:, None, None], None
    mu = (np.abs(alpha)[:, None] - 1.0) * np.abs(alpha)[:, None] ** lags[None, :]  # μ(|α_l|) [N, L]
    proj = mu @ phi[:, :k] * (1.0 + np.abs(alpha))[:, None]  # [N, K]
    pos = (alpha >= 0).astype(np.float64)
    m_plus = np.einsum("lk,l,lio->kio", proj, pos, modes) * scale[:, None, None]
    m_minus = np.einsum("lk,l,lio->kio", proj, 1.0 - pos, modes) * scale[:, None, None]
    return m_u, m_plus, m_minus


def design_matrix(us: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Regressors [S, L, 3 + J, d_in] of eq. (4): input taps u_{t-j}, j < 3, and the features (κ_j * u)_t.

    `us` [S, L, d_in] input sequences, `kernels` [L, J] the delayed weighted filters (`core.stu.stu_kernels`).
    Float64 (needs `jax.enable_x64(True)`).
    """
    if not jax.config.jax_enable_x64:
        raise ValueError("design_matrix needs float64: wrap the call in `with jax.enable_x64(True):`.")
    us = np.asarray(us, np.float64)
    if us.ndim != 3 or np.ndim(kernels) != 2 or np.shape(kernels)[0] != us.shape[1]:
        raise ValueError(f"expected us [S, L, d_in] and kernels [L, J] with the same L; got us {us.shape}, kernels "
                         f"{np.shape(kernels)}.")
    S, L, _ = us.shape
    n = fft_size(2 * L - 1)
    spectrum = jnp.asarray(host_kernel_spectrum(kernels, n))
    conv = np.asarray(jax.vmap(lambda u: spectral_features(u, spectrum, n=n))(jnp.asarray(us)), np.float64)
    taps = np.stack([np.pad(us, ((0, 0), (j, 0), (0, 0)))[:, :L] for j in range(K_U)], axis=2)
    return np.concatenate([taps, conv], axis=2)


def least_squares_weights(x: np.ndarray, ys: np.ndarray, k: int, k_max: int, *, branches: int = 2):
    """Fit y_t - y_{t-2} on the taps and the first k filters of each branch; unpack to layer-shaped weights.

    `x` from `design_matrix` with k_max filters per branch, `ys` [S, L, d_out]. Returns (m_u [3, d_in, d_out],
    m_plus [k, d_in, d_out], m_minus or None for one branch). Columns are normalised first; filters whose
    regressor vanishes (σ clamped to 0) get weight 0.
    """
    if branches not in (1, 2) or not 1 <= k <= k_max or x.shape[2] != K_U + branches * k_max:
        raise ValueError(f"need branches in (1, 2), 1 <= k <= k_max and x [S, L, 3 + branches*k_max, d_in]; got "
                         f"branches={branches}, k={k}, k_max={k_max}, x {x.shape}.")
    cols = list(range(K_U)) + [K_U + b * k_max + j for b in range(branches) for j in range(k)]
    d_in = x.shape[-1]
    a = x[:, :, cols, :].reshape(-1, len(cols) * d_in)
    target = (ys - np.pad(ys, ((0, 0), (2, 0), (0, 0)))[:, : ys.shape[1]]).reshape(-1, ys.shape[2])
    norms = np.linalg.norm(a, axis=0)
    norms = np.where(norms > 1e-12 * norms.max(), norms, np.inf)  # filters with σ clamped to 0: weight 0
    w = np.linalg.lstsq(a / norms[None, :], target, rcond=None)[0] / norms[:, None]
    w = w.reshape(len(cols), d_in, -1)
    return w[:K_U], w[K_U : K_U + k], (w[K_U + k :] if branches == 2 else None)
