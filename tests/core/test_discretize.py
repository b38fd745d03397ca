import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import cont2discrete

from ssmlab.core.discretize import bilinear, zoh


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_matches_scipy_cont2discrete(method):
    rng = np.random.default_rng(0)
    a = -rng.uniform(0.1, 3.0, 5)
    b = rng.normal(size=(5, 2))
    dt = 0.07
    a_bar, b_bar = (zoh if method == "zoh" else bilinear)(jnp.asarray(a), jnp.asarray(b), dt)
    sp = cont2discrete((np.diag(a), b, np.eye(5), np.zeros((5, 2))), dt, method=method)
    np.testing.assert_allclose(np.diag(np.asarray(a_bar)), np.diag(np.diag(sp[0])), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(a_bar), np.diag(sp[0]), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(b_bar), sp[1], rtol=1e-12)


def test_zoh_complex_matches_matrix_exponential():
    from scipy.linalg import expm

    rng = np.random.default_rng(1)
    a = -rng.uniform(0.1, 1.0, 3) + 1j * rng.uniform(-5, 5, 3)
    b = rng.normal(size=3) + 1j * rng.normal(size=3)
    dt = np.array([0.1, 0.01, 0.5])
    a_bar, b_bar = zoh(jnp.asarray(a), jnp.asarray(b), jnp.asarray(dt))
    for i in range(3):
        # Van Loan: expm([[a, b], [0, 0]] dt) = [[e^{a dt}, (e^{a dt}-1)/a b], [0, 1]]
        m = expm(np.array([[a[i], b[i]], [0, 0]]) * dt[i])
        np.testing.assert_allclose(a_bar[i], m[0, 0], rtol=1e-12)
        np.testing.assert_allclose(b_bar[i], m[0, 1], rtol=1e-12)


def test_zoh_zero_eigenvalue_limit():
    a_bar, b_bar = zoh(jnp.array([0.0, 1e-12]), jnp.array([2.0, 2.0]), 0.5)
    np.testing.assert_allclose(np.asarray(b_bar), [1.0, 1.0], rtol=1e-9)
    np.testing.assert_allclose(np.asarray(a_bar), [1.0, 1.0], rtol=1e-9)
