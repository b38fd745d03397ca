"""Theorem 3.1 / B.1 weights and the least-squares fit, checked against the LDS simulated in float64.

The STU output is evaluated here from `core.stu` on arrays (spectral term + eq. (4) recurrence), below the
layers; the reference outputs come from `data.lds.simulate_batch` (a state-space loop in NumPy).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.core.fftconv import fft_size, host_kernel_spectrum
from ssmlab.core.filter_cache import cached_spectral_filters
from ssmlab.core.stu import autoregressive_output, spectral_term, stu_kernels
from ssmlab.data.lds import paper_lds, random_symmetric_lds, simulate_batch
from ssmlab.theory.spectral import DELAY, construction_weights, design_matrix, least_squares_weights

L = 24


def stu_outputs(us, sigma, phi, m_u, m_plus, m_minus):
    """ŷ of eq. (4) (d = 2, k_u = 3, fixed ŷ_{t-2} recurrence) for each sequence of us [S, L, d_in]."""
    k = m_plus.shape[0]
    kernels = stu_kernels(sigma[:k], phi[:, :k], filter_delay=DELAY, branches="plus" if m_minus is None else "both")
    n = fft_size(2 * us.shape[1] - 1)
    m = m_plus if m_minus is None else np.concatenate([m_plus, m_minus])
    return np.asarray(_apply(jnp.asarray(us), jnp.asarray(host_kernel_spectrum(kernels, n)), jnp.asarray(m),
                             jnp.asarray(m_u), n=n))


@functools.partial(jax.jit, static_argnames="n")
def _apply(us, spectrum, m, m_u, *, n):
    def one(u):
        delta = spectral_term(u, spectrum, m, n=n, order="transfer")
        return autoregressive_output(u, delta, m_u=m_u, m_y=None, m_y_mode="fixed_eq4")

    return jax.vmap(one)(us)


def rel_err(y_hat, y):
    return float(np.abs(y_hat - y).max() / np.abs(y).max())


@pytest.mark.parametrize("system", ["symmetric", "paper"])
def test_construction_with_all_filters_reproduces_the_lds(system):
    # With K = L the projection of μ(α) onto the filters is complete: the STU equals the LDS up to the
    # filters whose eigenvalue is clamped to 0 (σ < 1e-18 σ_1, dropped), i.e. to ~1e-9 here.
    lds = random_symmetric_lds(seed=3, state_size=16, d_in=1, d_out=1) if system == "symmetric" else paper_lds(seed=3)
    sigma, phi = cached_spectral_filters(seq_len=L, num_filters=L)
    u = np.random.default_rng(0).standard_normal((2, L, lds.d_in))
    y = simulate_batch(lds, u)
    assert rel_err(stu_outputs(u, sigma, phi, *construction_weights(lds, sigma, phi, L)), y) < 1e-8
    # ... and few filters are far from exact (the tail of Z's spectrum sets the error).
    assert rel_err(stu_outputs(u, sigma, phi, *construction_weights(lds, sigma, phi, 2)), y) > 1e-4


def test_hankel_l_construction_with_all_filters_reproduces_the_lds():
    lds = random_symmetric_lds(seed=5, state_size=16, d_in=1, d_out=1)
    sigma, phi = cached_spectral_filters(seq_len=L, num_filters=L, kind="hankel_l")
    u = np.random.default_rng(2).standard_normal((2, L, 1))
    m_u, m_plus, m_minus = construction_weights(lds, sigma, phi, L, kind="hankel_l")
    assert m_minus is None
    assert rel_err(stu_outputs(u, sigma, phi, m_u, m_plus, None), simulate_batch(lds, u)) < 1e-8


def test_least_squares_fits_the_lds_on_held_out_inputs():
    lds = random_symmetric_lds(seed=7, state_size=8, d_in=1, d_out=1)
    K = 12
    sigma, phi = cached_spectral_filters(seq_len=L, num_filters=K)
    rng = np.random.default_rng(3)
    u_tr, u_te = rng.standard_normal((4, L, 1)), rng.standard_normal((2, L, 1))
    x = design_matrix(u_tr, stu_kernels(sigma, phi, filter_delay=DELAY, branches="both"))
    assert x.shape == (4, L, 3 + 2 * K, 1)
    np.testing.assert_array_equal(x[:, 1:, 1, :], u_tr[:, :-1])  # regressor 1 is u_{t-1}
    w = least_squares_weights(x, simulate_batch(lds, u_tr), K, K)
    construction = construction_weights(lds, sigma, phi, K)
    y_te = simulate_batch(lds, u_te)
    err_ls = rel_err(stu_outputs(u_te, sigma, phi, *w), y_te)
    assert err_ls < 1e-3 and err_ls <= 10 * rel_err(stu_outputs(u_te, sigma, phi, *construction), y_te)


def test_bad_inputs_raise():
    lds = random_symmetric_lds(seed=0, state_size=4, d_in=1, d_out=1)
    sigma, phi = cached_spectral_filters(seq_len=8, num_filters=4)
    with pytest.raises(ValueError, match="kind"):
        construction_weights(lds, sigma, phi, 2, kind="z")
    with pytest.raises(ValueError, match="k must be in"):
        construction_weights(lds, sigma, phi, 5)
    lopsided = type("Sys", (), {"a": np.triu(np.ones((4, 4))) * 0.1, "b": lds.b, "c": lds.c, "d": lds.d})
    with pytest.raises(ValueError, match="symmetric"):
        construction_weights(lopsided, sigma, phi, 2)
    with pytest.raises(ValueError, match="us \\[S, L, d_in\\]"):
        design_matrix(np.zeros((2, 8)), np.zeros((8, 3)))
    with pytest.raises(ValueError, match="branches"):
        least_squares_weights(np.zeros((1, 8, 3 + 8, 1)), np.zeros((1, 8, 1)), 2, 4, branches=3)
