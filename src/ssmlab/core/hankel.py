r"""Hankel matrices of the spectral SSM and their top eigenpairs (the STU spectral filters).

Two positive semi-definite Hankel matrices, indices i, j = 1..L:

    Z[i, j]   = 2 / ((i+j)^3 - (i+j))                                   [STU, eq. (3)]
    Z_L[i, j] = ((-1)^(i+j-2) + 1) * 8 / ((i+j+3)(i+j-1)(i+j+1))        [STU, App. B, eq. (7)]

Z = ∫_0^1 μ(α)μ(α)^T dα with μ(α)(i) = (α-1)α^(i-1) [STU, App. A, Lemma A.1], and
Z_L = ∫_{-1}^{1} μ_L μ_L^T dα with μ_L(α)(i) = (α²-1)α^(i-1) (ours: it reproduces eq. (7)'s entries; both
integrals are checked by quadrature in tests/core/test_hankel.py). Both are Hankel: Z[i, j] = h[i+j-2] for a
vector h of length 2L-1, so Z x is a correlation of h with x, computed with one FFT of size
n >= 2L-1 (not 3L-2: the L entries we read cannot alias, see `hankel_matvec`).

The filters are the top-K eigenpairs (σ_k descending, φ_k), computed in float64 on the host by
dense `scipy.linalg.eigh` (O(L³), small L) or by Lanczos on the FFT matvec (O(m L log L) for m
matvecs, O(L m) memory; practical to L ≈ 10⁶). Method "lanczos" is a plain Lanczos run with full
reorthogonalisation that stops as soon as all K Ritz residuals are below 1e-16·σ_1: the spectrum
decays so fast that a Krylov space of dimension ≈ K + 6 already holds the top K eigenvectors to
float64 accuracy (30 matvecs at L = 65,536, K = 24), so no restart is ever needed. Method "arpack"
(scipy's implicitly restarted `eigsh`, ncv = 2K + 1, the former default) is kept as the reference;
it spends most of its time in ARPACK's level-2 BLAS bookkeeping, not in the matvecs
(benchmarks/bench_filters.py, docs/performance.md). Z has no exact commuting tridiagonal matrix
(unlike the prolate/sinc case): the commutator equations [Z, T] = 0 over all tridiagonal T have
only T = cI as solution (exact rational arithmetic, tests/core/test_hankel.py), so the O(L K)
route of prolate sequences does not apply. Conditioning:
σ_k/σ_1 falls below float64 epsilon well before k = 24 at small L (σ_24/σ_1 ≈ 1e-17 at L = 256),
so trailing eigenpairs are numerical noise: their eigenvalues are clamped at 0 (they can come
out slightly negative, and the official code's σ^{1/4} is then NaN) and a warning is issued.
Sign convention (ours): each φ_k is flipped so that its largest-magnitude entry is positive.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import scipy.fft
import scipy.linalg
from scipy.sparse.linalg import LinearOperator, eigsh
from threadpoolctl import ThreadpoolController

from .._typing import Float, Num
from .checks import check_float_dtype, check_length

Kind = Literal["hankel", "hankel_l"]
KINDS = ("hankel", "hankel_l")
METHODS = ("auto", "dense", "lanczos", "arpack")
KRYLOV_TOL = 1e-16  # Lanczos stops when every estimated Ritz residual β|s_dk| is below this times σ_1.
NOISE_RATIO = 1e-14  # σ_k/σ_1 below this: φ_k is determined only to ~1e-16 σ_1/σ_k, i.e. not at all.
_DENSE_MAX_LEN = 256  # measured crossover (2 cores): dense eigh is cheaper only up to about L = 256.


class IllConditionedFiltersWarning(UserWarning):
    """Some requested eigenpairs lie at float64 noise level (σ_k/σ_1 < 1e-14)."""


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} ('hankel' = Z of eq. 3, 'hankel_l' = Z_L of eq. 7); "
                         f"got {kind!r}.")


def hankel_entries(*, seq_len: int, kind: str = "hankel") -> Float[np.ndarray, " M"]:
    """Anti-diagonal values h[m] = Z[i, j] with m = i+j-2, m = 0..2L-2 [STU, eqs. (3), (7)].

    Returns a float64 numpy vector of length 2*seq_len - 1.
    """
    check_length("seq_len", seq_len)
    _check_kind(kind)
    s = np.arange(2, 2 * int(seq_len) + 1, dtype=np.float64)  # s = i + j
    if kind == "hankel":
        return 2.0 / (s**3 - s)
    even = (np.rint(s) % 2 == 0).astype(np.float64)  # (-1)^(s-2) + 1 = 2 for even s, 0 for odd s
    return 2.0 * even * 8.0 / ((s + 3.0) * (s - 1.0) * (s + 1.0))


def hankel_matrix(*, seq_len: int, kind: str = "hankel") -> Float[np.ndarray, "L L"]:
    """Dense Z[i, j] = h[i+j-2] (float64, [L, L]) [STU, eq. (3) for 'hankel', App. B eq. (7) for 'hankel_l']."""
    h = hankel_entries(seq_len=seq_len, kind=kind)
    idx = np.arange(int(seq_len))
    return h[idx[:, None] + idx[None, :]]


def _matvec_size(seq_len: int) -> int:
    return max(2, 1 << (2 * int(seq_len) - 2).bit_length())  # power of two >= 2L - 1 (even, so irfft is exact)


def _hankel_spectrum(seq_len: int, kind: str) -> np.ndarray:
    return np.fft.rfft(hankel_entries(seq_len=seq_len, kind=kind), _matvec_size(seq_len))


def _apply_spectrum(spec: np.ndarray, x: np.ndarray, seq_len: int) -> np.ndarray:
    # (Z x)_i = Σ_j h[i+j] x_j = (h * reverse(x))[i + L - 1]: read the linear convolution at L-1..2L-2.
    # Its support is 0..3L-3, so with n >= 2L-1 no entry wraps onto the indices read.
    n = 2 * (spec.shape[0] - 1)
    x_hat = np.fft.rfft(x[::-1], n, axis=0)
    prod = spec.reshape(spec.shape + (1,) * (x.ndim - 1)) * x_hat
    return np.fft.irfft(prod, n, axis=0)[seq_len - 1 : 2 * seq_len - 1]


def hankel_matvec(x: Num[np.ndarray, "L *m"], *, kind: str = "hankel") -> Float[np.ndarray, "L *m"]:
    """Z x in O(L log L) by FFT, without forming Z [STU, eq. (3)/(7)] (a Hankel product is a correlation with h).

    Args:
        x: float64 numpy array [L] or [L, m] (each column is multiplied).
        kind: "hankel" (Z) or "hankel_l" (Z_L).

    Returns:
        Z x with the shape of x (float64).
    """
    if np.iscomplexobj(x):
        raise TypeError(f"x must be real (Z is a real symmetric matrix); got dtype {x.dtype}. "
                        "Apply hankel_matvec to the real and imaginary parts separately.")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[0] == 0:
        raise ValueError(f"x must have shape [L] or [L, m] with L >= 1; got {x.shape}.")
    L = x.shape[0]
    return _apply_spectrum(_hankel_spectrum(L, kind), x, L)


def hankel_operator(*, seq_len: int, kind: str = "hankel") -> LinearOperator:
    """SciPy `LinearOperator` for Z (or Z_L) whose matvec is the FFT correlation (spectrum of h cached)."""
    check_length("seq_len", seq_len)
    spec = _hankel_spectrum(seq_len, kind)

    def mv(x):
        x = np.asarray(x, dtype=np.float64)
        return _apply_spectrum(spec, x.reshape(seq_len, -1), seq_len).reshape(x.shape)

    return LinearOperator((seq_len, seq_len), matvec=mv, matmat=mv, rmatvec=mv, dtype=np.float64)


def orient_filters(phi: Float[np.ndarray, "L K"]) -> Float[np.ndarray, "L K"]:
    """Flip each column so that its largest-|entry| is positive (ssmlab's sign convention)."""
    phi = np.asarray(phi)
    peak = phi[np.argmax(np.abs(phi), axis=0), np.arange(phi.shape[1])]
    return phi * np.where(peak < 0, -1.0, 1.0)[None, :]


def _dense_top(seq_len: int, num_filters: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    z = hankel_matrix(seq_len=seq_len, kind=kind)
    w, v = scipy.linalg.eigh(z, subset_by_index=[seq_len - num_filters, seq_len - 1])
    return w, v


def _arpack_top(seq_len: int, num_filters: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The former method, kept as the reference: scipy's implicitly restarted Lanczos (ARPACK `eigsh`)."""
    op = hankel_operator(seq_len=seq_len, kind=kind)
    v0 = np.random.default_rng(0).standard_normal(seq_len)  # fixed start vector: deterministic output
    ncv = min(seq_len, max(2 * num_filters + 1, 20))
    w, v = eigsh(op, k=num_filters, which="LA", v0=v0, ncv=ncv, tol=0.0)
    # Guard against a silently unconverged run: residuals at float64 level relative to ||Z|| = σ_1.
    resid = np.abs(op.matmat(v) - v * w[None, :]).max()
    _raise_if_unconverged(resid, w, seq_len)
    return w, v


def _raise_if_unconverged(resid: float, w: np.ndarray, seq_len: int) -> None:
    if not resid <= 1e-12 * max(float(w.max()), 1e-300):
        raise RuntimeError(f"Lanczos residual {resid:.2e} is above 1e-12·σ_1 at seq_len={seq_len}; "
                           "use method='dense' (feasible up to seq_len ≈ 8192).")


def _row_matvec(seq_len: int, kind: str, workers: int | None = None):
    """X [b, L] -> (Z Xᵀ)ᵀ: rows are vectors, one batched real FFT of a fast size n >= 2L-1.

    (Z x)_i = Σ_j h[i+j] x_j is the circular cross-correlation of h with x at lags 0..L-1; with
    n >= 2L-1 the index i+j <= 2L-2 never wraps, so the first L entries of
    irfft(rfft(h) · conj(rfft(x))) are exact.
    """
    n = scipy.fft.next_fast_len(2 * seq_len - 1, real=True)
    spec = scipy.fft.rfft(hankel_entries(seq_len=seq_len, kind=kind), n)

    def apply(x):
        x_hat = scipy.fft.rfft(x, n, axis=-1, workers=workers)
        np.conjugate(x_hat, out=x_hat)
        x_hat *= spec
        return scipy.fft.irfft(x_hat, n, axis=-1, workers=workers)[..., :seq_len]

    return apply


def _check_residual(matvec, w: np.ndarray, rows: np.ndarray, seq_len: int, *, probes: int = 2) -> None:
    """Guard against a silently unconverged run at the cost of `probes` matvecs, not K.

    With R = ZΦ - Φ diag(σ) and Gaussian c, ||R c|| is zero only if R c = 0, which for R ≠ 0 has
    probability zero ((R c)_i is Gaussian with variance ||R_i||² >= max_k R_ik²): two random
    combinations of the K pairs test all of them.
    """
    c = np.random.default_rng(seq_len).standard_normal((probes, w.shape[0]))
    resid = np.abs(matvec(c @ rows) - (c * w[None, :]) @ rows).max()  # (R c)_i ~ N(0, ||R_i||²) per probe
    _raise_if_unconverged(float(resid), w, seq_len)


_THREADPOOLS: list[ThreadpoolController] = []  # built once: scanning the loaded libraries costs ~3 ms


def _one_blas_thread():
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")


def _lanczos_top(seq_len: int, num_filters: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Lanczos with full reorthogonalisation, stopped when all K Ritz pairs have converged.

    Each step: w = Z q_j - β_{j-1} q_{j-1}, α_j = q_j·w, then w is orthogonalised against every
    previous q by classical Gram-Schmidt (a second pass if the first removed more than half of
    ||w||, the DGKS criterion), so the basis stays orthonormal to rounding, β_j = ||w||. The
    Rayleigh-Ritz matrix is Qᵀ Z Q with the Gram-Schmidt coefficients added to the tridiagonal
    (α, β) part (its upper triangle, read as symmetric). Its Ritz pairs have residuals
    ||Zv - θv|| = β_d |s_dk| (s_dk the last entry of the k-th eigenvector), checked every step
    once d >= K.
    The basis is held as rows [d, L]; the loop and the checks run with one BLAS thread (the
    products are memory-bound level-2 operations, and waking BLAS threads cost more than they
    saved on a loaded 2-core host: 3x in the loop, ~10 ms per small product).
    """
    L, K = seq_len, num_filters
    matvec = _row_matvec(L, kind)
    max_dim = min(L, 2 * K + 64)
    basis = np.empty((max_dim, L))
    q = np.random.default_rng(0).standard_normal(L)  # fixed start vector: deterministic output
    basis[0] = q / np.linalg.norm(q)
    proj, beta = np.zeros((max_dim, max_dim)), np.zeros(max_dim)  # upper triangle of Qᵀ Z Q
    with _one_blas_thread():
        for d in range(1, max_dim + 1):
            j = d - 1
            w = matvec(basis[j])
            if j:
                w -= beta[j - 1] * basis[j - 1]
                proj[j - 1, j] = beta[j - 1]
            proj[j, j] = basis[j] @ w
            w -= proj[j, j] * basis[j]
            before = np.linalg.norm(w)
            for _ in range(2):  # Gram-Schmidt; the second pass only after heavy cancellation (DGKS)
                c = basis[:d] @ w
                w -= c @ basis[:d]
                proj[:d, j] += c  # kept: T alone would drop these rounding-level terms (5x the residual)
                beta[j] = np.linalg.norm(w)
                if beta[j] >= 0.5 * before:
                    break
            if d >= K:
                theta, s = scipy.linalg.eigh(proj[:d, :d], lower=False, subset_by_index=(d - K, d - 1))
                if d == L or np.all(beta[j] * np.abs(s[-1]) <= KRYLOV_TOL * theta[-1]):
                    break
            if d < max_dim:
                basis[d] = w / beta[j] if beta[j] > 0 else _fresh_direction(basis[:d], d)
        rows = s.T @ basis[:d]
        _check_residual(matvec, theta, rows, L)
        orth = float(np.abs(rows @ rows.T - np.eye(K)).max())
    if not orth <= 1e-10:
        raise RuntimeError(f"Lanczos lost orthogonality ({orth:.1e}) at seq_len={L}; use method='arpack'.")
    return theta, rows.T


def _fresh_direction(basis: np.ndarray, seed: int) -> np.ndarray:
    """A unit vector orthogonal to `basis` (after an exact breakdown β = 0: Krylov space invariant)."""
    x = np.random.default_rng(seed).standard_normal(basis.shape[1])
    for _ in range(2):
        x -= (basis @ x) @ basis
    return x / np.linalg.norm(x)


def choose_method(*, seq_len: int, num_filters: int) -> str:
    """The method `spectral_filters(method="auto")` uses: dense eigh where it is cheaper, else Lanczos."""
    if seq_len <= _DENSE_MAX_LEN or 3 * num_filters >= seq_len:
        return "dense"
    return "lanczos"


def spectral_filters(
    *,
    seq_len: int,
    num_filters: int,
    kind: str = "hankel",
    method: str = "auto",
    dtype=np.float64,
    warn: bool = True,
) -> tuple[Float[np.ndarray, " K"], Float[np.ndarray, "L K"]]:
    """Top-K eigenpairs (σ_k descending, φ_k) of Z or Z_L: the STU spectral filters [STU, eq. (3), §3].

    Computed in float64 (dense `eigh` or Lanczos on the FFT matvec), then cast to `dtype`.
    Eigenvalues are clamped at 0; `phi[i, k]` = φ_k(i) at 0-based lag i, each column with unit
    norm and its largest-|entry| positive.

    Args:
        seq_len: L, the filter length (the Hankel matrix is L x L).
        num_filters: K, 1 <= K <= L.
        kind: "hankel" (Z, paper eq. 3) or "hankel_l" (Z_L, App. B eq. 7).
        method: "dense", "lanczos" (needs 3K < L), "arpack" (scipy `eigsh`, the former Lanczos,
            kept as a reference; needs 3K < L) or "auto" (dense only where cheaper, else "lanczos").
        dtype: real floating dtype of the returned arrays (float64, float32, ...); integer and
            complex dtypes are refused (TypeError).
        warn: issue `IllConditionedFiltersWarning` when some σ_k/σ_1 < 1e-14.

    Returns:
        sigma [K] (descending, >= 0) and phi [L, K], numpy arrays of `dtype`.

    >>> sigma, phi = spectral_filters(seq_len=64, num_filters=4)
    >>> phi.shape, round(float(sigma[0]), 4)
    ((64, 4), 0.3604)
    """
    check_length("seq_len", seq_len)
    check_float_dtype("dtype", dtype)
    _check_kind(kind)
    if not isinstance(num_filters, (int, np.integer)) or isinstance(num_filters, bool) or not (
        1 <= num_filters <= seq_len
    ):
        raise ValueError(f"num_filters must be an integer in [1, seq_len={seq_len}]; got {num_filters!r}. "
                         "Use fewer filters (the spectrum is at float64 noise level beyond k ≈ 20 at short L).")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    seq_len, num_filters = int(seq_len), int(num_filters)
    if method == "auto":
        method = choose_method(seq_len=seq_len, num_filters=num_filters)
    if method in ("lanczos", "arpack") and 3 * num_filters >= seq_len:
        raise ValueError(f"method={method!r} needs 3*num_filters < seq_len (got K={num_filters}, L={seq_len}); "
                         "use method='dense' or 'auto' for such short sequences.")
    w, v = {"dense": _dense_top, "lanczos": _lanczos_top, "arpack": _arpack_top}[method](seq_len, num_filters, kind)
    order = np.argsort(w)[::-1]
    w, v = np.maximum(w[order], 0.0), orient_filters(v[:, order])
    noisy = int(np.sum(w < NOISE_RATIO * w[0]))
    if warn and noisy:
        warnings.warn(f"{noisy} of {num_filters} spectral filters (seq_len={seq_len}, kind={kind!r}) have "
                      f"σ_k/σ_1 < {NOISE_RATIO:g}: they are float64 noise (harmless after σ^(1/4) weighting, "
                      "but they add parameters). Pass fewer num_filters or warn=False.",
                      IllConditionedFiltersWarning, stacklevel=2)
    return w.astype(dtype), v.astype(dtype)


def noise_free_count(sigma: Float[np.ndarray, " K"], *, ratio: float = NOISE_RATIO) -> int:
    """Number of leading filters with σ_k/σ_1 >= ratio (a conditioning-based cap for K)."""
    sigma = np.asarray(sigma, dtype=np.float64)
    return int(np.sum(sigma >= ratio * sigma[0])) if sigma.size else 0
