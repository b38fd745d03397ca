"""S4 Cauchy/Woodbury kernel vs the dense bilinear system's kernel by matrix powers (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.core.hippo import legs_dplr, legs_matrix
from ssmlab.core.s4_kernel import dense_bilinear, dplr_dense, dplr_kernel


def _power_kernel(a_bar, b_bar, c, length):
    out, x = [], b_bar
    for _ in range(length):
        out.append(c @ x)
        x = a_bar @ x
    return np.array(out)


_kernel = jax.jit(dplr_kernel, static_argnames=("length", "conj_pairs"))


@pytest.mark.parametrize("L", [1, 7, 64, 1000])
def test_legs_kernel_matches_matrix_powers(L):
    """Real LegS basis: dense Ā^l vs Cauchy in the eigenbasis with C̃ = C(I - Ā^L) V."""
    N, dt = 8, 0.03
    a, b = legs_matrix(N)
    c = np.random.default_rng(L).normal(size=N)
    a_bar, b_bar = (np.asarray(x) for x in dense_bilinear(jnp.asarray(a), jnp.asarray(b), dt))
    ref = _power_kernel(a_bar, b_bar, c, L)
    f = legs_dplr(N, conj_half=True)
    c_tilde = (c @ (np.eye(N) - np.linalg.matrix_power(a_bar, L))) @ f.v
    k = np.asarray(_kernel(*(jnp.asarray(x) for x in (f.lam, f.p, f.b, c_tilde)), dt, length=L))
    assert k.dtype == np.float64
    assert np.max(np.abs(k - ref)) <= 1e-12 * np.max(np.abs(ref))


@pytest.mark.parametrize("L", [1, 7, 64])
def test_general_complex_dplr_kernel(L):
    """Random complex Λ, P ≠ Q, B, C (no conjugate symmetry): full-grid complex kernel."""
    rng = np.random.default_rng(L)
    N, dt = 5, 0.2
    cn = lambda: rng.normal(size=N) + 1j * rng.normal(size=N)  # noqa: E731
    lam = -rng.uniform(0.1, 1.0, N) + 1j * rng.normal(size=N) * 3
    p, q, b, c = 0.3 * cn(), 0.3 * cn(), cn(), cn()
    a = np.asarray(dplr_dense(jnp.asarray(lam), jnp.asarray(p), jnp.asarray(q), conj_pairs=False))
    a_bar, b_bar = (np.asarray(x) for x in dense_bilinear(jnp.asarray(a), jnp.asarray(b), dt))
    ref = _power_kernel(a_bar, b_bar, c, L)
    c_tilde = c @ (np.eye(N) - np.linalg.matrix_power(a_bar, L))
    k = np.asarray(_kernel(*(jnp.asarray(x) for x in (lam, p, b, c_tilde)), dt, length=L,
                           q=jnp.asarray(q), conj_pairs=False))
    assert np.max(np.abs(k - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_float32_kernel():
    N, L, dt = 16, 256, 0.01
    a, b = legs_matrix(N)
    c = np.random.default_rng(0).normal(size=N)
    a_bar, b_bar = (np.asarray(x) for x in dense_bilinear(jnp.asarray(a), jnp.asarray(b), dt))
    ref = _power_kernel(a_bar, b_bar, c, L)
    f = legs_dplr(N, conj_half=True)
    c_tilde = (c @ (np.eye(N) - np.linalg.matrix_power(a_bar, L))) @ f.v
    args = (jnp.asarray(x, jnp.complex64) for x in (f.lam, f.p, f.b, c_tilde))
    k = np.asarray(dplr_kernel(*args, jnp.float32(dt), length=L))
    assert k.dtype == np.float32
    assert np.max(np.abs(k - ref)) <= 1e-4 * np.max(np.abs(ref))


def test_shape_errors():
    x = jnp.ones(3, jnp.complex128)
    with pytest.raises(ValueError, match="same shape"):
        dplr_kernel(x, x, x, jnp.ones(4, jnp.complex128), 0.1, length=4)
    with pytest.raises(ValueError, match="length"):
        dplr_kernel(x, x, x, x, 0.1, length=0)
