"""The vectorised N-sweep of gradient descent [LDyn, Fig. 1F]: the gain route equals the full model."""

import functools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.theory.learning_dynamics.closed_forms import max_stable_learning_rate
from ssmlab.theory.learning_dynamics.sweep import KINDS, descend_one, latent_masks, sweep_data, sweep_descent

LENGTH, A, STEPS, EVERY = 16, 0.5, 60, 20
NS = np.array([1, 3, 5])


@pytest.fixture(scope="module")
def data():
    u, y, s_g, e_g, floor = sweep_data(LENGTH, A, 0)
    return u, y, s_g, e_g, floor, 1e-3 * s_g / e_g


@functools.cache
def _program(kind, gradient, gain0, floor):
    """One jitted sweep per (kind, gradient), so tests with the same shapes share the compile."""
    return jax.jit(partial(sweep_descent, kind, n_max=int(NS.max()), a=A, gain0=gain0, floor=floor, gap=0.5,
                           steps=STEPS, record_every=EVERY, gradient=gradient))


def _run(kind, data, lrs, gradient):
    u, y, _, _, floor, gain0 = data
    return _program(kind, gradient, gain0, floor)(jnp.asarray(NS), lrs, u, y)


def _lrs(kind, data):
    _, _, s_g, e_g, _, _ = data
    return jnp.asarray([0.3 * max_stable_learning_rate(kind, n=int(n), sigma_g=s_g, eta_g=e_g, length=LENGTH)
                        for n in NS])


@pytest.mark.parametrize("kind", ["balanced_untied",
                                  *(pytest.param(k, marks=pytest.mark.slow) for k in KINDS if k != "balanced_untied")])
def test_gain_route_equals_autodiff_through_the_model(kind, data):
    conv_g, gains_g = _run(kind, data, _lrs(kind, data), "gain")
    conv_a, gains_a = _run(kind, data, _lrs(kind, data), "autodiff")
    assert np.all(np.asarray(conv_g) > 0)  # the gap criterion is met inside the run, so the steps are compared
    np.testing.assert_array_equal(conv_g, conv_a)
    scale = data[2] / data[3]
    np.testing.assert_allclose(gains_g, gains_a, rtol=0, atol=1e-12 * scale)


def _numpy_descent(n, lr, u, y, gain0, steps):
    """Balanced tied GD in float64 numpy: b = c scalars, periodic model by an explicit circulant sum."""
    L = len(u)
    kern = A ** np.arange(L) / (1 - A**L)
    conv = np.array([[kern[(i - j) % L] for j in range(L)] for i in range(L)]) @ u  # unit-gain response
    b = c = np.sqrt(gain0)
    gains = [n * b * c]
    for _ in range(steps):
        resid = y - n * b * c * conv
        d_p = -2.0 * resid @ conv  # dLoss/dP, P = n b c
        b, c = b - lr * d_p * n * c, c - lr * d_p * n * b
        gains.append(n * b * c)
    return np.array(gains)


def test_balanced_tied_gains_match_an_independent_numpy_descent(data):
    u, y, s_g, e_g, floor, gain0 = data
    mask = latent_masks([3], n_max=5)[0]
    lr = 0.3 * max_stable_learning_rate("balanced_tied", n=3, sigma_g=s_g, eta_g=e_g, length=LENGTH)
    run = jax.jit(partial(descend_one, "balanced_tied", a=A, gain0=gain0, floor=floor, gap=0.5, steps=STEPS,
                          record_every=1))
    _, gains = run(mask, lr, u, y)
    ref = _numpy_descent(3, lr, np.asarray(u), np.asarray(y), gain0, STEPS)
    assert ref[-1] > 10 * ref[0]  # the gain has moved, so the comparison is not of the initial values only
    np.testing.assert_allclose(gains, ref, rtol=1e-12, atol=0)


def test_learning_rate_grid_is_a_second_batch_axis(data):
    kind = "balanced_untied"  # the 1-D program is the one compiled by the first test (one new compile here)
    grid = jnp.stack([_lrs(kind, data), 0.5 * _lrs(kind, data)])
    conv, gains = _run(kind, data, grid, "gain")
    assert conv.shape == (2, 3) and gains.shape == (2, 3, STEPS // EVERY + 1)
    for row in range(2):
        c1, g1 = _run(kind, data, grid[row], "gain")
        np.testing.assert_array_equal(conv[row], c1)
        np.testing.assert_allclose(gains[row], g1, rtol=1e-13, atol=0)
    assert float(jnp.abs(gains[1, :, -1] - gains[0, :, -1]).min()) > 0  # the two rates give different runs


def test_bad_arguments(data):
    u, y, _, _, floor, gain0 = data
    kw = dict(n_max=5, a=A, gain0=gain0, floor=floor, steps=20, record_every=10)
    with pytest.raises(ValueError, match="gradient"):
        sweep_descent(KINDS[0], NS, jnp.ones(3), u, y, gradient="finite", **kw)
    with pytest.raises(ValueError, match="learning_rates"):
        sweep_descent(KINDS[0], NS, jnp.ones(4), u, y, **kw)
