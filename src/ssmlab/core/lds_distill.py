r"""Distilling fixed convolution filters into a diagonal linear dynamical system (approximate, O(1) per step).

The STU filters κ_j [L] (j < J) are fitted by one diagonal LDS with P real poles λ_p shared by all filters,

    κ_j(l) ≈ κ̂_j(l) = Σ_p c_{pj} λ_p^l,      l = 0..L-1,

so that (κ̂_j * u)_t = Σ_p c_{pj} x_{t,p}, with the state x_t = λ ⊙ x_{t-1} + u_t: O(P) per step instead
of O(t). Method (ours; the Flash-STU line of work distils by gradient descent on the impulse response):
the poles are fixed, ±(1 - ρ_n) with ρ_n log-spaced in [2/L, 1] (n < P/2). The Hankel filters are close
to the span of α^l for real α in [0, 1) (and (-α)^l for the minus branch, STU §3), whose time scales 1/(1-α)
this grid covers evenly in log scale. Then the coefficients c are the least-squares solution of
V c = κ with the Vandermonde V_{lp} = λ_p^l, by SVD in float64 on the host (`numpy.linalg.lstsq`), with
singular values below `rcond`·σ_max cut, since V is very ill-conditioned. The kernel error is
||κ̂ - κ||_F / ||κ||_F; it decreases with P (measured in `docs/streaming.md`), and is not zero: this
route is an approximation, unlike cached convolution and FutureFill (`core.futurefill`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .._typing import Array, Float


class LDSState(NamedTuple):
    """Diagonal LDS state x [P, H_in] (one state per pole and input channel)."""

    x: Float[Array, "P Hin"]


def distillation_poles(*, state_size: int, seq_len: int) -> np.ndarray:
    """P = `state_size` real poles ±(1 - ρ_n), ρ_n = geomspace(min(2/L, 1), 1, P/2) (float64)."""
    if not isinstance(state_size, int) or state_size < 2 or state_size % 2:
        raise ValueError(f"state_size must be an even integer >= 2 (P/2 poles of each sign); got {state_size!r}.")
    if not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive integer; got {seq_len!r}.")
    rho = np.geomspace(min(2.0 / seq_len, 1.0), 1.0, state_size // 2)
    return np.concatenate([1.0 - rho, -(1.0 - rho)])


def vandermonde(poles: np.ndarray, *, length: int) -> np.ndarray:
    """V [length, P], V_{lp} = λ_p^l (float64)."""
    return np.asarray(poles, np.float64)[None, :] ** np.arange(length)[:, None]


def fit_lds(kernels: Float[np.ndarray, "L J"], poles: Float[np.ndarray, " P"], *,
            rcond: float = 1e-13) -> np.ndarray:
    """Coefficients c [P, J] minimising ||V c - κ||_F, V_{lp} = λ_p^l (least squares by SVD, float64)."""
    kernels = np.asarray(kernels, np.float64)
    if kernels.ndim != 2:
        raise ValueError(f"kernels must have shape [L, J]; got {kernels.shape}.")
    coeffs, *_ = np.linalg.lstsq(vandermonde(poles, length=kernels.shape[0]), kernels, rcond=rcond)
    return coeffs


def lds_kernels(poles: np.ndarray, coeffs: np.ndarray, *, length: int) -> np.ndarray:
    """κ̂_j(l) = Σ_p c_{pj} λ_p^l, [length, J] (float64): the impulse responses of the fitted LDS."""
    return vandermonde(poles, length=length) @ np.asarray(coeffs, np.float64)


def kernel_error(kernels: np.ndarray, fitted: np.ndarray) -> float:
    """Relative Frobenius error ||κ̂ - κ||_F / ||κ||_F."""
    return float(np.linalg.norm(fitted - kernels) / np.linalg.norm(kernels))


def lds_init(gain: Float[Array, "P Hin Hout"]) -> LDSState:
    """Zero state [P, H_in] in the gain's dtype."""
    return LDSState(jnp.zeros(gain.shape[:2], gain.dtype))


def lds_step(poles: Float[Array, " P"], gain: Float[Array, "P Hin Hout"], state: LDSState,
             u_t: Float[Array, " Hin"]) -> tuple[LDSState, Float[Array, " Hout"]]:
    """x_t = λ ⊙ x_{t-1} + u_t, y_t = Σ_p x_{t,p} G_p with G_p = Σ_j c_{pj} M_j (distilled spectral term)."""
    x = poles[:, None] * state.x + u_t[None, :].astype(state.x.dtype)
    return LDSState(x), jnp.einsum("pi,pio->o", x, gain)
