"""core.stu on arrays: features, the tensordot restriction and the AR output against direct loops (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.core.fftconv import fft_size, host_kernel_spectrum
from ssmlab.core.stu import (
    autoregressive_output,
    spectral_features,
    spectral_term,
    stu_kernels,
    taps_foldable,
    tensordot_term,
)

L, H_IN, H_OUT, K = 12, 2, 3, 3


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    sigma = np.sort(rng.uniform(0.1, 1.0, K))[::-1]
    phi = rng.standard_normal((L, K))
    kappa = stu_kernels(sigma, phi, filter_delay=2, branches="both")  # [L, 2K]
    n = fft_size(2 * L - 1)
    return rng, kappa, jnp.asarray(host_kernel_spectrum(kappa, n)), n


def test_kernels_are_delayed_weighted_filters_with_alternating_minus_branch(setup):
    rng = np.random.default_rng(1)
    sigma, phi = np.array([0.5, 0.25]), rng.standard_normal((6, 2))
    kappa = stu_kernels(sigma, phi, filter_delay=1, branches="both")
    for j in range(6):  # κ⁺(j) = σ^{1/4} φ(j-1), κ⁻(j) = (-1)^{j-1} κ⁺(j), zero before the delay
        plus = sigma**0.25 * phi[j - 1] if j >= 1 else np.zeros(2)
        np.testing.assert_allclose(kappa[j], np.r_[plus, (-1.0) ** (j - 1) * plus], rtol=0, atol=1e-15)


def test_features_and_transfer_order_match_a_direct_sum_over_lags(setup):
    rng, kappa, spectrum, n = setup
    u = rng.standard_normal((L, H_IN))
    m = rng.standard_normal((2 * K, H_IN, H_OUT))
    feats = np.zeros((L, 2 * K, H_IN))  # (κ_j * u_i)_t = Σ_{s<=t} κ_j(s) u_{t-s, i}
    for t in range(L):
        for s in range(t + 1):
            feats[t] += kappa[s][:, None] * u[t - s][None, :]
    np.testing.assert_allclose(np.asarray(spectral_features(jnp.asarray(u), spectrum, n=n)), feats, atol=1e-12)
    ref = np.einsum("lji,jio->lo", feats, m)  # every order against this reference: tests/layers/test_stu.py
    y = jax.jit(lambda x, w: spectral_term(x, spectrum, w, n=n, order="transfer"))(jnp.asarray(u), jnp.asarray(m))
    np.testing.assert_allclose(np.asarray(y), ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    with pytest.raises(ValueError, match="order must be one of"):
        spectral_term(jnp.asarray(u), spectrum, jnp.asarray(m), n=n, order="fast")

def test_tensordot_term_is_the_rank_one_restriction(setup):
    rng, _, spectrum, n = setup
    u = rng.standard_normal((L, H_IN))
    m_in, m_f = rng.standard_normal((H_IN, H_OUT)), rng.standard_normal((2 * K, H_OUT))
    rank_one = m_f[:, None, :] * m_in[None, :, :]
    both = jax.jit(lambda x, w, a, b: (spectral_term(x, spectrum, w, n=n, order="features"),
                                       tensordot_term(x, spectrum, a, b, n=n)))
    ref, y = both(*(jnp.asarray(a) for a in (u, rank_one, m_in, m_f)))
    np.testing.assert_allclose(np.asarray(y), np.asarray(ref), rtol=0, atol=1e-12 * float(jnp.abs(ref).max()))


@pytest.mark.parametrize("mode", ["fixed_eq4", "learnable"])
def test_autoregressive_output_matches_a_loop(mode):
    rng = np.random.default_rng(2)
    u, delta = rng.standard_normal((L, H_IN)), rng.standard_normal((L, H_OUT))
    m_u, m_y = rng.standard_normal((3, H_IN, H_OUT)), 0.3 * rng.standard_normal((2, H_OUT, H_OUT))
    ref = delta.copy()
    for t in range(L):
        ref[t] += sum(u[t - j] @ m_u[j] for j in range(3) if t >= j)
        if mode == "fixed_eq4" and t >= 2:
            ref[t] += ref[t - 2]
        if mode == "learnable":
            ref[t] += sum(ref[t - j] @ m_y[j - 1] for j in (1, 2) if t >= j)
    run = jax.jit(lambda *a: autoregressive_output(a[0], a[1], m_u=a[2], m_y=a[3], m_y_mode=mode))
    y = run(*(jnp.asarray(a) for a in (u, delta, m_u, m_y)))
    np.testing.assert_allclose(np.asarray(y), ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_bad_mode_and_fold_limit():
    with pytest.raises(ValueError, match="m_y_mode must be one of"):
        autoregressive_output(jnp.zeros((2, 1)), jnp.zeros((2, 1)), m_u=None, m_y=None, m_y_mode="fixed")
    assert taps_foldable(5, n=8, seq_len=4) and not taps_foldable(6, n=8, seq_len=4)  # delays j <= n - L
