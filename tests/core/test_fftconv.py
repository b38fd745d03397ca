import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest

from ssmlab.core.fftconv import (
    causal_conv,
    causal_conv_bins,
    causal_conv_mixing,
    causal_conv_spectrum,
    delay_spectrum,
    fft_size,
    host_kernel_spectrum,
)

LENGTHS = [1, 2, 3, 7, 64, 1000, 4097]


def direct_conv(u, k):
    """O(L*Lk) loop-free reference: y_t = sum_s k_s u_{t-s} (numpy, float64)."""
    u, k = np.asarray(u), np.asarray(k)
    L = u.shape[0]
    y = np.zeros(u.shape, dtype=np.result_type(u, k))
    for s in range(min(L, k.shape[0])):
        y[s:] += k[s] * u[: L - s]
    return y


@pytest.mark.parametrize("L", LENGTHS)
def test_causal_conv_matches_direct_float64(L):
    rng = np.random.default_rng(L)
    u, k = rng.normal(size=(L, 3)), rng.normal(size=(L, 3))
    y = causal_conv(jnp.asarray(u), jnp.asarray(k))
    ref = direct_conv(u, k)
    assert y.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(y), ref, rtol=0, atol=1e-12 * max(1.0, np.abs(ref).max()) * np.sqrt(L))


@pytest.mark.parametrize("L,Lk", [(10, 3), (5, 9), (1, 4)])
def test_kernel_length_may_differ(L, Lk):
    rng = np.random.default_rng(0)
    u, k = rng.normal(size=(L,)), rng.normal(size=(Lk,))
    np.testing.assert_allclose(np.asarray(causal_conv(jnp.asarray(u), jnp.asarray(k))), direct_conv(u, k),
                               atol=1e-12)


def test_not_circular():
    # A kernel tap at the end would wrap to the start under circular convolution.
    u = jnp.zeros(8).at[7].set(1.0)
    k = jnp.zeros(8).at[1].set(1.0)
    assert float(jnp.abs(causal_conv(u, k)).max()) < 1e-12


def test_complex_input():
    rng = np.random.default_rng(1)
    u = rng.normal(size=(33, 2)) + 1j * rng.normal(size=(33, 2))
    k = rng.normal(size=(33, 2)) + 1j * rng.normal(size=(33, 2))
    np.testing.assert_allclose(np.asarray(causal_conv(jnp.asarray(u), jnp.asarray(k))), direct_conv(u, k),
                               atol=1e-11)


@pytest.mark.parametrize("dtype,tol", [(jnp.float32, 2e-5), (jnp.bfloat16, 5e-2)])
def test_low_precision_dtype_and_accuracy(dtype, tol):
    rng = np.random.default_rng(2)
    u, k = rng.normal(size=(256, 4)), rng.normal(size=(256, 4)) / 16
    y = causal_conv(jnp.asarray(u, dtype), jnp.asarray(k, dtype))
    assert y.dtype == dtype
    ref = direct_conv(np.asarray(jnp.asarray(u, dtype), np.float64), np.asarray(jnp.asarray(k, dtype), np.float64))
    assert np.abs(np.asarray(y, np.float64) - ref).max() <= tol * np.abs(ref).max()


@pytest.mark.parametrize("L", [1, 7, 64, 300])
def test_mixing_matches_direct(L):
    rng = np.random.default_rng(L)
    u, k = rng.normal(size=(L, 3)), rng.normal(size=(L, 2, 3))
    ref = np.stack([sum(direct_conv(u[:, i], k[:, o, i]) for i in range(3)) for o in range(2)], axis=1)
    np.testing.assert_allclose(np.asarray(causal_conv_mixing(jnp.asarray(u), jnp.asarray(k))), ref, atol=1e-11)


def test_precomputed_spectrum_matches():
    rng = np.random.default_rng(3)
    u, k = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    n = fft_size(99)
    spec = jnp.fft.rfft(jnp.asarray(k), n=n, axis=0)
    np.testing.assert_allclose(np.asarray(causal_conv_spectrum(jnp.asarray(u), spec, n=n)), direct_conv(u, k),
                               atol=1e-12)


def test_bins_with_a_mixing_map_match_direct_sums():
    # bin_map contracts the input channels with per-bin kernel spectra: y_o = sum_i k[:, i, o] * u_i.
    rng = np.random.default_rng(6)
    u, k = rng.normal(size=(30, 3)), rng.normal(size=(12, 3, 2))
    n = fft_size(30 + 12 - 1)
    spec = jnp.asarray(host_kernel_spectrum(k, n))
    y = causal_conv_bins(jnp.asarray(u), lambda u_hat: jnp.einsum("mi,mio->mo", u_hat, spec), n=n)
    ref = np.stack([sum(direct_conv(u[:, i], k[:, i, o]) for i in range(3)) for o in range(2)], axis=1)
    np.testing.assert_allclose(np.asarray(y), ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    with pytest.raises(ValueError, match="n must be at least"):
        causal_conv_bins(jnp.zeros((8, 1)), lambda b: b, n=4)


def test_delay_spectrum_is_the_rfft_of_unit_delays():
    n, lags = 16, 5
    impulses = np.eye(n)[:, :lags]  # column j: δ_j
    np.testing.assert_allclose(delay_spectrum(n, lags), np.fft.rfft(impulses, axis=0), rtol=0, atol=1e-15)
    u = np.arange(1.0, 9.0)[:, None]
    y = causal_conv_bins(jnp.asarray(u), lambda b: b * jnp.asarray(delay_spectrum(n, 4)[:, 3:4]), n=n)
    np.testing.assert_allclose(np.asarray(y)[:, 0], np.r_[0, 0, 0, u[:5, 0]], atol=1e-13)  # u delayed by 3


def test_grad_and_jit_and_vmap():
    rng = np.random.default_rng(4)
    u, k = jnp.asarray(rng.normal(size=(16,))), jnp.asarray(rng.normal(size=(16,)))
    conv = lambda a, b: causal_conv(jnp.asarray(a), jnp.asarray(b))  # noqa: E731
    jax.test_util.check_grads(conv, (u, k), order=2, modes=("fwd", "rev"))
    us = jnp.stack([u, 2 * u])
    batched = jax.vmap(causal_conv, (0, None))(us, k)
    np.testing.assert_allclose(batched[1], 2 * jax.jit(causal_conv)(u, k), atol=1e-12)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="u must have a non-empty"):
        causal_conv(jnp.zeros((0, 2)), jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match="channel shape"):
        causal_conv(jnp.zeros((4, 2)), jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="total_length"):
        fft_size(0)
