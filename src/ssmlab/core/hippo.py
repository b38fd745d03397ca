r"""HiPPO-LegS and its normal-plus-low-rank (NPLR / DPLR) form [S4, §3.1, Thm. 1; S5, §4.1].

HiPPO-LegS (state size N, indices n, k = 0..N-1):

    A_nk = -sqrt(2n+1) sqrt(2k+1)  (n > k),   -(n+1)  (n = k),   0  (n < k);    B_n = sqrt(2n+1).

With P_n = sqrt(n + 1/2), the matrix S = A + P P^T is normal: S = -I/2 + K with K real
skew-symmetric (S_nk = -sqrt(2n+1)sqrt(2k+1)/2 below the diagonal, the negative above). This S is the
"HiPPO-N" matrix of S5. K = i V diag(w) V^* with V unitary (eigh of the Hermitian -iK), so

    A = V (Λ - P̃ P̃^*) V^*,    Λ = -1/2 + i w,   P̃ = V^* P,   B̃ = V^* B     [S4, eq. (6)].

For even N the eigenvalues come in conjugate pairs ±w with conjugate eigenvectors, so the
half with w > 0 (`conj_half=True`) determines the whole real system: the other half is the
complex conjugate of every diagonal quantity.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DPLR(NamedTuple):
    """Diagonal-plus-low-rank factors of A = V (diag(lam) - p p^*) V^* with b in the same basis."""

    lam: np.ndarray  # [M] complex eigenvalues of the normal part
    p: np.ndarray  # [M] complex low-rank vector V^* P
    b: np.ndarray  # [M] complex input vector V^* B
    v: np.ndarray  # [N, M] eigenvectors (columns)


def _check_size(name: str, n: int, *, even: bool = False) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name} must be a positive integer state size N >= 1; got {n!r}.")
    if even and n % 2:
        raise ValueError(f"{name} must be even (N/2 conjugate pairs are stored); got {n}.")


def legs_matrix(n: int) -> tuple[np.ndarray, np.ndarray]:
    """HiPPO-LegS (A [N, N], B [N]) in closed form [S4, eq. (2); HiPPO, Thm. 2]."""
    _check_size("n", n)
    r = np.sqrt(2.0 * np.arange(n) + 1.0)
    a = -np.tril(np.outer(r, r), -1) - np.diag(np.arange(n) + 1.0)
    return a, r.copy()


def legs_low_rank(n: int) -> np.ndarray:
    """P_n = sqrt(n + 1/2): A + P P^T is normal [S4, §3.1 and App. C.1]."""
    _check_size("n", n)
    return np.sqrt(np.arange(n) + 0.5)


def hippo_n(n: int) -> np.ndarray:
    """HiPPO-N: the normal part S = A_LegS + P P^T = -I/2 + skew-symmetric [S5, §4.1; S4, Thm. 1]."""
    a, _ = legs_matrix(n)
    p = legs_low_rank(n)
    return a + np.outer(p, p)


def _eig_normal(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of HiPPO-N from eigh of the Hermitian -i K (K its skew part): (w ascending, V)."""
    s = hippo_n(n)
    skew = s + 0.5 * np.eye(n)  # exactly skew-symmetric: the diagonal of S is -1/2
    w, v = np.linalg.eigh(-1j * skew)
    return w, v


def legs_dplr(n: int, *, conj_half: bool = False) -> DPLR:
    """NPLR/DPLR factors of HiPPO-LegS: A = V (Λ - P̃ P̃^*) V^* [S4, Thm. 1, eq. (6)].

    With `conj_half` (N even) only the N/2 modes with Im Λ > 0 are returned; the others are
    their conjugates, so `v` is [N, N/2]. Otherwise all N modes, `v` [N, N] unitary.
    """
    _check_size("n", n, even=conj_half)
    w, v = _eig_normal(n)
    if conj_half:
        keep = w > 0
        w, v = w[keep], v[:, keep]
    _, b = legs_matrix(n)
    p = legs_low_rank(n)
    vh = v.conj().T
    return DPLR(lam=-0.5 + 1j * w, p=vh @ p, b=vh @ b, v=v)


def hippo_n_diagonal(n: int, *, blocks: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Conjugate-half eigendecomposition of block-diagonal HiPPO-N, `blocks` copies of size n/blocks [S5, §4.1].

    Returns (Λ [n/2], V [n, n/2]) with V^* V = I: block j of S is V_j diag(Λ_j, conj Λ_j) V_j^*.
    """
    _check_size("n", n)
    if not isinstance(blocks, (int, np.integer)) or blocks < 1 or n % blocks or (n // blocks) % 2:
        raise ValueError(f"blocks must divide the state size {n} into blocks of even size; got blocks={blocks!r}.")
    size = n // blocks
    w, v = _eig_normal(size)
    keep = w > 0
    lam_b, v_b = -0.5 + 1j * w[keep], v[:, keep]
    half = size // 2
    v_full = np.zeros((n, n // 2), complex)
    for j in range(blocks):
        v_full[j * size:(j + 1) * size, j * half:(j + 1) * half] = v_b
    return np.tile(lam_b, blocks), v_full
