from fractions import Fraction

import numpy as np
import pytest
import scipy.integrate

from ssmlab.core import hankel as hankel_module
from ssmlab.core.hankel import (
    NOISE_RATIO,
    IllConditionedFiltersWarning,
    choose_method,
    hankel_entries,
    hankel_matrix,
    hankel_matvec,
    hankel_operator,
    noise_free_count,
    orient_filters,
    spectral_filters,
)


@pytest.mark.parametrize("kind", ["hankel", "hankel_l"])
def test_entries_equal_the_integral_definition(kind):
    # Z = ∫ μ(α)μ(α)^T dα: μ(α)(i) = (α-1)α^(i-1) on [0,1]; μ_L(α)(i) = (α²-1)α^(i-1) on [-1,1].
    # The integrands are polynomials of degree <= 2L + 2, so 20-point Gauss-Legendre is exact.
    L = 6
    x, w = np.polynomial.legendre.leggauss(20)
    if kind == "hankel":
        a, w = 0.5 * (x + 1.0), 0.5 * w
        mu = (a[None, :] - 1.0) * a[None, :] ** np.arange(L)[:, None]
    else:
        a = x
        mu = (a[None, :] ** 2 - 1.0) * a[None, :] ** np.arange(L)[:, None]
    ref = (mu * w[None, :]) @ mu.T
    np.testing.assert_allclose(hankel_matrix(seq_len=L, kind=kind), ref, rtol=1e-13, atol=1e-16)
    val, _ = scipy.integrate.quad(lambda t: (t - 1) ** 2 * t**4, 0, 1)  # Z[3, 3] by adaptive quadrature
    assert abs(hankel_matrix(seq_len=3)[2, 2] - val) <= 1e-13 * val


def test_entries_shape_and_hankel_structure():
    h = hankel_entries(seq_len=5)
    assert h.shape == (9,) and h.dtype == np.float64
    z = hankel_matrix(seq_len=5)
    assert z[1, 3] == z[2, 2] == z[3, 1] == h[4]
    np.testing.assert_array_equal(hankel_matrix(seq_len=5, kind="hankel_l")[0, 1], 0.0)


@pytest.mark.parametrize("L", [1, 2, 3, 7, 64, 1000])
@pytest.mark.parametrize("kind", ["hankel", "hankel_l"])
def test_fft_matvec_matches_dense(L, kind):
    rng = np.random.default_rng(L)
    x = rng.standard_normal((L, 3))
    z = hankel_matrix(seq_len=L, kind=kind)
    ref = z @ x
    got = hankel_matvec(x, kind=kind)
    assert got.shape == (L, 3)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13 * np.abs(ref).max())
    np.testing.assert_allclose(hankel_matvec(x[:, 0], kind=kind), ref[:, 0], rtol=0, atol=1e-13 * np.abs(ref).max())
    op = hankel_operator(seq_len=L, kind=kind)
    np.testing.assert_allclose(op.matvec(x[:, 1]), ref[:, 1], rtol=0, atol=1e-13 * np.abs(ref).max())


@pytest.mark.parametrize("L", [1, 5, 64, 300])
@pytest.mark.parametrize("kind", ["hankel", "hankel_l"])
def test_dense_filters_match_numpy_full_eigh(L, kind):
    K = min(L, 16)
    w_all, v_all = np.linalg.eigh(hankel_matrix(seq_len=L, kind=kind))
    w_ref, v_ref = w_all[::-1][:K], v_all[:, ::-1][:, :K]
    sigma, phi = spectral_filters(seq_len=L, num_filters=K, kind=kind, method="dense", warn=False)
    assert sigma.shape == (K,) and phi.shape == (L, K)
    s1 = w_ref[0]
    np.testing.assert_allclose(sigma, np.maximum(w_ref, 0), rtol=0, atol=1e-13 * s1)
    _assert_vectors_close(phi, v_ref, sigma, tol=1e-10)


def _assert_vectors_close(phi, ref, sigma, *, tol):
    """Eigenvectors agree up to sign where σ_k/σ_1 > 1e-6 (they are only determined to ~1e-16 σ_1/σ_k)."""
    for k in range(phi.shape[1]):
        if sigma[k] > 1e-6 * sigma[0]:
            s = np.sign(np.dot(phi[:, k], ref[:, k]))
            assert np.abs(phi[:, k] - s * ref[:, k]).max() <= tol, k


@pytest.mark.parametrize("L", [128, 256, 1000, pytest.param(2048, marks=pytest.mark.slow)])
@pytest.mark.parametrize("kind", ["hankel", "hankel_l"])
def test_lanczos_agrees_with_dense_eigh(L, kind):  # 1000: FFT size 2000 (not a power of two)
    K = 24 if L > 72 else 20
    s_d, p_d = spectral_filters(seq_len=L, num_filters=K, kind=kind, method="dense", warn=False)
    s_l, p_l = spectral_filters(seq_len=L, num_filters=K, kind=kind, method="lanczos", warn=False)
    s1 = s_d[0]
    np.testing.assert_allclose(s_l, s_d, rtol=0, atol=1e-12 * s1)
    good = s_d > 1e-6 * s1
    # Same deterministic sign convention on both routes, so no sign alignment is needed here.
    assert np.abs(p_l[:, good] - p_d[:, good]).max() <= 1e-10
    wd, wl = p_d * s_d[None, :] ** 0.25, p_l * s_l[None, :] ** 0.25
    well = s_d >= NOISE_RATIO * s1
    assert np.abs(wd[:, well] - wl[:, well]).max() <= 1e-6
    # Noise-level pairs are arbitrary vectors of a near-null space; their weighted filters are tiny.
    bound = (NOISE_RATIO * s1) ** 0.25
    assert np.abs(wd[:, ~well]).max(initial=0) <= bound and np.abs(wl[:, ~well]).max(initial=0) <= bound


def test_filters_are_orthonormal_eigenvectors_with_sign_convention():
    L, K = 400, 12
    sigma, phi = spectral_filters(seq_len=L, num_filters=K)
    np.testing.assert_allclose(phi.T @ phi, np.eye(K), atol=1e-12)
    z = hankel_matrix(seq_len=L)
    assert np.abs(z @ phi - phi * sigma[None, :]).max() <= 1e-14
    assert np.all(np.diff(sigma) < 0)
    peak = phi[np.argmax(np.abs(phi), axis=0), np.arange(K)]
    assert np.all(peak > 0)
    np.testing.assert_array_equal(orient_filters(-phi), phi)


@pytest.mark.parametrize("L", [20, 23, 27, 31])
def test_noise_eigenvalues_clamped_and_warned(L):
    # numpy's eigh gives a slightly negative eigenvalue among the top min(L, 24) here (spec §2);
    # the official code's sigma**0.25 is then NaN.
    with pytest.warns(IllConditionedFiltersWarning, match="num_filters"):
        sigma, phi = spectral_filters(seq_len=L, num_filters=min(L, 24))
    assert np.all(sigma >= 0) and np.all(np.isfinite(sigma ** 0.25))
    assert noise_free_count(sigma) < sigma.size


def test_float32_output_is_the_cast_float64_result():
    s64, p64 = spectral_filters(seq_len=300, num_filters=8)
    s32, p32 = spectral_filters(seq_len=300, num_filters=8, dtype=np.float32)
    assert s32.dtype == p32.dtype == np.float32
    np.testing.assert_array_equal(p32, p64.astype(np.float32))


def test_auto_method_choice():
    assert choose_method(seq_len=64, num_filters=8) == "dense"
    assert choose_method(seq_len=4096, num_filters=24) == "lanczos"
    assert choose_method(seq_len=1000, num_filters=400) == "dense"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(seq_len=0, num_filters=1), "seq_len"),
        (dict(seq_len=10, num_filters=0), "num_filters"),
        (dict(seq_len=10, num_filters=11), "num_filters"),
        (dict(seq_len=10, num_filters=2, kind="z"), "kind"),
        (dict(seq_len=10, num_filters=2, method="qr"), "method"),
        (dict(seq_len=30, num_filters=10, method="lanczos"), "method='dense'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spectral_filters(**kwargs)


def test_matvec_rejects_bad_shape():
    with pytest.raises(ValueError, match="x must have shape"):
        hankel_matvec(np.zeros((2, 2, 2)))


def _sampled_residual(seq_len, phi, sigma, rows):
    """max |(Z φ)_i - σ φ_i| / σ_1 on sampled rows, each row summed directly (no FFT)."""
    h = hankel_entries(seq_len=seq_len)
    zphi = np.stack([h[i : i + seq_len] @ phi for i in rows])
    return np.abs(zphi - phi[rows] * sigma[None, :]).max() / sigma[0]


@pytest.mark.slow
@pytest.mark.parametrize("L", [65_536, 1_048_576])
def test_lanczos_at_scale(L):
    sigma, phi = spectral_filters(seq_len=L, num_filters=24)
    rows = np.unique(np.concatenate([np.arange(8), np.random.default_rng(0).integers(0, L, 24)]))
    assert _sampled_residual(L, phi, sigma, rows) <= 1e-12
    np.testing.assert_allclose(phi.T @ phi, np.eye(24), atol=1e-10)
    assert abs(sigma[0] - 0.36039) < 1e-4  # σ_1 → 0.36039 for every L >= 64 (spec §2, measured)


def test_lanczos_equals_the_former_arpack_method():
    L, K = 4096, 24
    s_a, p_a = spectral_filters(seq_len=L, num_filters=K, method="arpack", warn=False)
    s_l, p_l = spectral_filters(seq_len=L, num_filters=K, method="lanczos", warn=False)
    np.testing.assert_allclose(s_l, s_a, rtol=0, atol=1e-14 * s_a[0])
    good = s_a > 1e-6 * s_a[0]
    assert np.abs(p_l[:, good] - p_a[:, good]).max() <= 1e-10
    np.testing.assert_allclose(p_l.T @ p_l, np.eye(K), rtol=0, atol=1e-13)


def test_lanczos_residual_at_moderate_length():
    L, K = 16_384, 24
    sigma, phi = spectral_filters(seq_len=L, num_filters=K, method="lanczos", warn=False)
    rows = np.unique(np.concatenate([np.arange(6), L - 1 - np.arange(6), np.random.default_rng(1).integers(0, L, 12)]))
    # Rows summed directly, independent of the FFT; those sums round to ~2e-15 themselves (ARPACK: 2.0e-15).
    assert _sampled_residual(L, phi, sigma, rows) <= 5e-15
    assert abs(sigma[0] - 0.36039) < 1e-4


def test_residual_guard_rejects_wrong_pairs():
    L, K = 512, 8
    sigma, phi = spectral_filters(seq_len=L, num_filters=K, method="lanczos", warn=False)
    matvec = hankel_module._row_matvec(L, "hankel")
    hankel_module._check_residual(matvec, sigma, phi.T, L)  # the true pairs pass
    wrong = phi.copy()
    wrong[:, 3] += 1e-9 * np.random.default_rng(0).standard_normal(L)
    with pytest.raises(RuntimeError, match="residual"):
        hankel_module._check_residual(matvec, sigma, wrong.T, L)


def _commuting_tridiagonal_dimension(L: int, kind: str) -> int:
    """dim of {T tridiagonal: ZT = TZ}, by exact rational Gaussian elimination (T = I always commutes)."""
    h = ([Fraction(2, s**3 - s) for s in range(2, 2 * L + 1)] if kind == "hankel" else
         [Fraction(16, (s + 3) * (s - 1) * (s + 1)) if s % 2 == 0 else Fraction(0) for s in range(2, 2 * L + 1)])
    cells = [(i, i) for i in range(L)] + [(i, i + 1) for i in range(L - 1)] + [(i + 1, i) for i in range(L - 1)]
    rows = []
    for i in range(L):
        for j in range(L):  # (ZT - TZ)[i, j] = Σ_k Z[i,k] T[k,j] - T[i,k] Z[k,j], linear in the cells of T
            rows.append([(h[i + a] if b == j else 0) - (h[b + j] if a == i else 0) for a, b in cells])
    rank, col = 0, 0
    while rank < len(rows) and col < len(cells):
        pivot = next((r for r in range(rank, len(rows)) if rows[r][col] != 0), None)
        if pivot is not None:
            rows[rank], rows[pivot] = rows[pivot], rows[rank]
            for r in range(rank + 1, len(rows)):
                if rows[r][col] != 0:
                    f = rows[r][col] / rows[rank][col]
                    rows[r] = [x - f * y for x, y in zip(rows[r], rows[rank], strict=True)]
            rank += 1
        col += 1
    return len(cells) - rank


def test_z_has_no_commuting_tridiagonal_matrix():
    # Unlike the sinc kernel (prolate sequences), Z commutes with no tridiagonal T but cI, so no O(L K)
    # route via a tridiagonal eigenproblem. Z_L only splits into its even and odd index blocks.
    assert _commuting_tridiagonal_dimension(6, "hankel") == 1
    assert _commuting_tridiagonal_dimension(6, "hankel_l") == 2
