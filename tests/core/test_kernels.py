import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest

from ssmlab.core.kernels import (
    causal_output_frequency,
    frequency_response,
    periodic_output,
    ssm_kernel,
    truncated_kernel_spectrum,
)
from ssmlab.core.scan import linear_recurrence

LENGTHS = [1, 2, 3, 7, 64, 1000, 4097]


def random_system(seed, n=6, h_in=2, h_out=3, complex_=False):
    rng = np.random.default_rng(seed)
    r = rng.uniform(0.3, 0.98, n)
    if complex_:
        a = r * np.exp(1j * rng.uniform(0, np.pi, n))
        b = rng.normal(size=(n, h_in)) + 1j * rng.normal(size=(n, h_in))
        c = rng.normal(size=(h_out, n)) + 1j * rng.normal(size=(h_out, n))
    else:
        a, b, c = r * np.sign(rng.normal(size=n)), rng.normal(size=(n, h_in)), rng.normal(size=(h_out, n))
    return a, b, c


@pytest.mark.parametrize("complex_", [False, True])
def test_kernel_matches_matrix_powers(complex_):
    a, b, c = random_system(0, complex_=complex_)
    L = 40
    ref = np.stack([c @ np.linalg.matrix_power(np.diag(a), t) @ b for t in range(L)])
    np.testing.assert_allclose(np.asarray(ssm_kernel(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), length=L)), ref,
                               rtol=1e-12, atol=1e-13)


def test_siso_shapes():
    k = ssm_kernel(jnp.array([0.5, -0.2]), jnp.array([1.0, 2.0]), jnp.array([3.0, 1.0]), length=5)
    assert k.shape == (5,)
    np.testing.assert_allclose(k, [3 * 0.5**t + 2 * (-0.2) ** t for t in range(5)], atol=1e-14)
    assert frequency_response(jnp.array([0.5]), jnp.array([1.0]), jnp.array([1.0]), length=4).shape == (4,)


@pytest.mark.parametrize("L", [1, 2, 3, 7, 64, 1000])
@pytest.mark.parametrize("complex_", [False, True])
def test_frequency_response_is_dft_of_infinite_kernel(L, complex_):
    """H_k equals the DFT of the impulse response folded modulo L (sum over all periods), long enough to converge."""
    a, b, c = random_system(L, complex_=complex_)
    periods = int(np.ceil(np.log(1e-18) / np.log(np.abs(a).max()) / L)) + 1
    kern = np.asarray(ssm_kernel(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), length=L * periods))
    folded = kern.reshape(periods, L, *kern.shape[1:]).sum(0)
    ref = np.fft.fft(folded, axis=0)
    h = frequency_response(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), length=L)
    np.testing.assert_allclose(np.asarray(h), ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("L", [1, 7, 64, 1000])
def test_truncated_spectrum_on_L_grid_is_H_times_one_minus_a_to_L(L):
    a, b, c = random_system(L + 1)
    kern = np.asarray(ssm_kernel(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), length=L))
    spec = truncated_kernel_spectrum(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), length=L, n=L)
    ref = np.fft.rfft(kern, axis=0)
    np.testing.assert_allclose(np.asarray(spec), ref, rtol=1e-10, atol=1e-11 * np.abs(ref).max())
    b_scaled = b * (1 - a**L)[:, None]
    h = frequency_response(jnp.asarray(a), jnp.asarray(b_scaled), jnp.asarray(c), length=L)
    np.testing.assert_allclose(np.asarray(h)[: L // 2 + 1], ref, rtol=1e-10, atol=1e-11 * np.abs(ref).max())


def direct_causal(kern, u):
    L = u.shape[0]
    return np.stack([sum(kern[s] @ u[t - s] for s in range(t + 1)) for t in range(L)])


@pytest.mark.parametrize("L", LENGTHS)
@pytest.mark.parametrize("complex_", [False, True])
def test_causal_output_frequency_matches_recurrence(L, complex_):
    a, b, c = random_system(3 * L, complex_=complex_)
    u = np.random.default_rng(L).normal(size=(L, 2))
    y = causal_output_frequency(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), jnp.asarray(u))
    x = linear_recurrence(jnp.asarray(a), jnp.asarray(u @ b.T))
    ref = np.real(np.asarray(x) @ c.T)
    np.testing.assert_allclose(np.asarray(y), ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    if L <= 64:  # independent O(L^2) check with matrix powers
        kern = np.real(np.stack([c @ np.linalg.matrix_power(np.diag(a), t) @ b for t in range(L)]))
        np.testing.assert_allclose(np.asarray(y), direct_causal(kern, u), atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("L", [1, 7, 64, 513])
def test_periodic_output_is_recurrence_from_periodic_state(L):
    """IDFT(H U) equals the recurrence started from the state the repeated input converges to."""
    a, b, c = random_system(L, complex_=True)
    u = np.random.default_rng(L).normal(size=(L, 2))
    y_per = periodic_output(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), jnp.asarray(u))
    # Run the recurrence over many repetitions of u; the last period is the steady state.
    reps = int(np.ceil(np.log(1e-16) / np.log(np.abs(a).max()) / L)) + 2
    x = linear_recurrence(jnp.asarray(a), jnp.asarray(np.tile(u, (reps, 1)) @ b.T))
    ref = np.real(np.asarray(x)[-L:] @ c.T)
    np.testing.assert_allclose(np.asarray(y_per), ref, atol=1e-10 * np.abs(ref).max())


def test_stability_required_for_frequency_formulas():
    with pytest.raises(ValueError, match=r"\|a\| < 1"):
        frequency_response(jnp.array([1.0, 0.5]), jnp.ones(2), jnp.ones(2), length=8)
    with pytest.raises(ValueError, match="strictly stable"):
        causal_output_frequency(jnp.array([1.2]), jnp.ones((1, 1)), jnp.ones((1, 1)), jnp.ones((4, 1)))


def test_shape_errors():
    with pytest.raises(ValueError, match="share N"):
        ssm_kernel(jnp.ones(2), jnp.ones((3, 1)), jnp.ones((1, 2)), length=4)
    with pytest.raises(ValueError, match="length"):
        ssm_kernel(jnp.ones(2), jnp.ones(2), jnp.ones(2), length=0)


def test_grad_of_frequency_response():
    a, b, c = (jnp.asarray(x) for x in random_system(1, n=3, h_in=1, h_out=1))

    def loss(a_):
        return jnp.sum(jnp.abs(frequency_response(jnp.asarray(a_), b, c, length=16)) ** 2)

    jax.test_util.check_grads(loss, (a,), order=1, modes=("rev",))
