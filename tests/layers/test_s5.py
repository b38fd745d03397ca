"""S5 layer vs a NumPy complex recurrence over the full (non-halved) state; scans; init; errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads

from ssmlab.core.hippo import hippo_n
from ssmlab.layers import make_layer
from ssmlab.layers.s5 import S5


def _s5(key, *, H=3, P=8, **kw):
    return S5(d_model=H, state_size=P, dtype=jnp.float64, key=key, **kw)


def _full(x):
    return np.concatenate([x, x.conj()], axis=-1)


def _numpy_recurrence(layer, u, c):
    """Full P-state complex system: Λ̄ = exp(Δ Λ), B̄ = (Λ̄ - 1)/Λ B, y = C x (real up to round-off)."""
    lam = -np.exp(np.asarray(layer.log_lambda_re)) + 1j * np.asarray(layer.lambda_im)
    step = np.exp(np.asarray(layer.log_step))
    b = np.asarray(layer.b_re) + 1j * np.asarray(layer.b_im)
    lam_bar = np.exp(step * lam)
    b_bar = ((lam_bar - 1) / lam)[:, None] * b
    lam_f, b_f, c_f = _full(lam_bar), np.concatenate([b_bar, b_bar.conj()]), _full(c)
    x, ys = np.zeros(lam_f.shape, complex), []
    for t in range(u.shape[0]):
        x = lam_f * x + b_f @ u[t]
        ys.append(c_f @ x)
    ys = np.array(ys)
    assert np.max(np.abs(ys.imag)) <= 1e-12 * max(np.max(np.abs(ys.real)), 1.0)
    return ys.real


@pytest.mark.parametrize(("L", "method", "blocks"),
                         [(1, "sequential", 1), (7, "associative", 2), (64, "sequential", 4), (300, "associative", 1)])
def test_layer_matches_full_state_recurrence(key, L, method, blocks):
    k1, k2 = jr.split(key)
    layer = _s5(k1, blocks=blocks, scan_method=method)
    u = np.asarray(jr.normal(k2, (L, 3), jnp.float64))
    y = np.asarray(eqx.filter_jit(layer)(jnp.asarray(u)))
    c = np.asarray(layer.c_re) + 1j * np.asarray(layer.c_im)
    ref = _numpy_recurrence(layer, u, c) + np.asarray(layer.d)[None, :] * u
    assert np.max(np.abs(y - ref)) <= 1e-10 * np.max(np.abs(ref))


def test_bidirectional(key):
    k1, k2 = jr.split(key)
    layer = _s5(k1, bidirectional=True, scan_method="associative")
    u = np.asarray(jr.normal(k2, (29, 3), jnp.float64))
    c = np.asarray(layer.c_re) + 1j * np.asarray(layer.c_im)
    c2 = np.asarray(layer.c2_re) + 1j * np.asarray(layer.c2_im)
    ref = (_numpy_recurrence(layer, u, c) + _numpy_recurrence(layer, u[::-1], c2)[::-1]
           + np.asarray(layer.d)[None, :] * u)
    y = np.asarray(eqx.filter_jit(layer)(jnp.asarray(u)))
    assert np.max(np.abs(y - ref)) <= 1e-10 * np.max(np.abs(ref))
    assert _s5(k1).c2_re is None


def test_init_is_hippo_n(key):
    layer = _s5(key, H=2, P=8)
    lam = np.asarray(layer.lam)
    eig = np.linalg.eigvals(hippo_n(8))
    np.testing.assert_allclose(np.sort(lam.imag), np.sort(eig.imag[eig.imag > 0]), atol=1e-10)
    np.testing.assert_allclose(lam.real, -0.5, atol=1e-12)
    step = np.exp(np.asarray(_s5(key, P=128).log_step))
    assert step.min() >= 1e-3 * (1 - 1e-12) and step.max() <= 1e-1 * (1 + 1e-12)


def test_float32_and_transforms(key):
    k1, k2 = jr.split(key)
    l64 = _s5(k1)
    l32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x, l64)
    u = jr.normal(k2, (100, 3), jnp.float64)
    y64 = l64(u)
    y32 = l32(u.astype(jnp.float32))
    assert y32.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(y32 - y64))) <= 1e-4 * float(jnp.max(jnp.abs(y64)))
    us = jnp.stack([u, 2 * u])
    np.testing.assert_allclose(np.asarray(jax.vmap(l64)(us)[1]), np.asarray(2 * y64), rtol=1e-12, atol=1e-12)

    @jax.jit
    def loss(log_step, lam_im, b_re):
        moved = eqx.tree_at(lambda m: (m.log_step, m.lambda_im, m.b_re), l64, (log_step, lam_im, b_re))
        return jnp.sum(moved(u[:20]) ** 2)

    check_grads(loss, (l64.log_step, l64.lambda_im, l64.b_re), order=1, modes=("rev",))


def test_registry_and_errors(key):
    layer = make_layer("s5", d_model=4, seq_len=16, key=key, state_size=8)
    assert isinstance(layer, S5) and layer(jnp.ones((16, 4), jnp.float32)).dtype == jnp.float32
    with pytest.raises(ValueError, match="state_size"):
        S5(d_model=2, state_size=7, key=key)
    with pytest.raises(ValueError, match="state_size"):
        S5(d_model=2, state_size=0, key=key)
    with pytest.raises(ValueError, match="dt_min"):
        S5(d_model=2, dt_min=0.2, dt_max=0.1, key=key)
    with pytest.raises(ValueError, match="blocks"):
        S5(d_model=2, state_size=8, blocks=3, key=key)
    with pytest.raises(ValueError, match="method"):
        S5(d_model=2, scan_method="fast", key=key)
    with pytest.raises(ValueError, match=r"\[L, H\]"):
        layer(jnp.ones((16, 3)))
