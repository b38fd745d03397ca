"""HiPPO-LegS: closed form vs an explicit double loop; DPLR reconstruction; HiPPO-N spectrum."""

import numpy as np
import pytest

from ssmlab.core.hippo import hippo_n, hippo_n_diagonal, legs_dplr, legs_low_rank, legs_matrix


def _legs_loop(n):
    a = np.zeros((n, n))
    for i in range(n):
        for k in range(n):
            if i > k:
                a[i, k] = -np.sqrt(2 * i + 1) * np.sqrt(2 * k + 1)
            elif i == k:
                a[i, k] = -(i + 1)
    return a, np.array([np.sqrt(2 * i + 1) for i in range(n)])


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_legs_matches_double_loop(n):
    a, b = legs_matrix(n)
    a_ref, b_ref = _legs_loop(n)
    np.testing.assert_array_equal(a, a_ref)
    np.testing.assert_array_equal(b, b_ref)


@pytest.mark.parametrize(("n", "conj_half"), [(1, False), (7, False), (8, False), (8, True), (64, True)])
def test_dplr_reconstructs_legs(n, conj_half):
    a, b = legs_matrix(n)
    f = legs_dplr(n, conj_half=conj_half)
    lam, p, bt, v = f
    if conj_half:  # the implied conjugate modes
        lam, p, bt, v = (np.concatenate([x, x.conj()], axis=-1) for x in (lam, p, bt, v))
    np.testing.assert_allclose(v.conj().T @ v, np.eye(n), atol=1e-12)
    recon = v @ (np.diag(lam) - np.outer(p, p.conj())) @ v.conj().T
    assert np.max(np.abs(recon - a)) <= 1e-10 * np.max(np.abs(a))
    np.testing.assert_allclose(v @ bt, b, atol=1e-10 * np.max(b))


def test_normal_part_eigenvalues():
    n = 16
    s = hippo_n(n)
    p = legs_low_rank(n)
    np.testing.assert_allclose(s, legs_matrix(n)[0] + np.outer(p, p), rtol=0, atol=0)
    np.testing.assert_allclose(s @ s.T, s.T @ s, atol=1e-10)  # normal
    eig = np.linalg.eigvals(s)  # independent (non-Hermitian) eigensolver
    np.testing.assert_allclose(eig.real, -0.5, atol=1e-10)
    lam = legs_dplr(n).lam
    np.testing.assert_allclose(np.sort(eig.imag), np.sort(lam.imag), atol=1e-10)
    half = legs_dplr(n, conj_half=True).lam
    assert half.shape == (n // 2,) and np.all(half.imag > 0)


def test_block_diagonal_hippo_n():
    lam, v = hippo_n_diagonal(8, blocks=2)
    s4 = hippo_n(4)
    dense = np.zeros((8, 8))
    dense[:4, :4] = dense[4:, 4:] = s4
    v_full, lam_full = np.concatenate([v, v.conj()], 1), np.concatenate([lam, lam.conj()])
    np.testing.assert_allclose(v_full @ np.diag(lam_full) @ v_full.conj().T, dense, atol=1e-12)
    np.testing.assert_allclose(v_full.conj().T @ v_full, np.eye(8), atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="state size"):
        legs_matrix(0)
    with pytest.raises(ValueError, match="even"):
        legs_dplr(5, conj_half=True)
    with pytest.raises(ValueError, match="blocks"):
        hippo_n_diagonal(8, blocks=3)
