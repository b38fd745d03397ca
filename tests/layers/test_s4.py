"""S4 layer vs a direct recurrence of the dense discretised DPLR system; init; transforms; errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads

from ssmlab.core.hippo import legs_matrix
from ssmlab.core.s4_kernel import dense_equivalent, dplr_dense
from ssmlab.layers import make_layer
from ssmlab.layers.s4 import S4


def _s4(key, *, H=2, N=6, **kw):
    return S4(d_model=H, state_size=N, dtype=jnp.float64, key=key, **kw)


def _dense_reference(layer, u):
    """Per channel: dense Ā, B̄ (bilinear), C = C̃ (I - Ā^L)^{-1}; x_k = Ā x_{k-1} + B̄ u_k, y = Re(C x) + D u."""
    L, H = u.shape
    ys = []
    for h in range(H):
        a_bar, b_bar, c = dense_equivalent(layer.lam[h], layer.p[h], layer.b[h], layer.c_tilde[h],
                                           float(np.exp(layer.log_dt[h])), length=L)
        x, y = np.zeros(a_bar.shape[0], complex), []
        for t in range(L):
            x = a_bar @ x + b_bar * u[t, h]
            y.append((c @ x).real + float(layer.d[h]) * u[t, h])
        ys.append(y)
    return np.array(ys).T


@pytest.mark.parametrize("L", [1, 7, 64])
def test_layer_matches_dense_recurrence(key, L):
    k1, k2 = jr.split(key)
    layer = _s4(k1)
    u = np.asarray(jr.normal(k2, (L, 2), jnp.float64))
    y = np.asarray(eqx.filter_jit(layer)(jnp.asarray(u)))
    ref = _dense_reference(layer, u)
    assert np.max(np.abs(y - ref)) <= 1e-10 * np.max(np.abs(ref))


def test_init_is_legs_in_every_channel(key):
    layer = _s4(key, H=3, N=8)
    a_legs, _ = legs_matrix(8)
    # same spectrum as HiPPO-LegS, channel by channel (similarity transform)
    for h in range(3):
        a = np.asarray(dplr_dense(layer.lam[h], layer.p[h]))
        np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(a)), np.sort_complex(np.linalg.eigvals(a_legs)),
                                   atol=1e-8)
    moved = eqx.tree_at(lambda m: m.log_lambda_re, layer, jnp.full_like(layer.log_lambda_re, 40.0))
    assert bool(jnp.all(jnp.real(moved.lam) < 0))
    dt = np.exp(np.asarray(_s4(key, H=64).log_dt))
    assert dt.min() >= 1e-3 * (1 - 1e-12) and dt.max() <= 1e-1 * (1 + 1e-12)


def test_float32_layer_and_dtype(key):
    k1, k2 = jr.split(key)
    l64 = _s4(k1, H=2, N=16)
    l32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x, l64)
    u = jr.normal(k2, (200, 2), jnp.float64)
    y64, y32 = l64(u), l32(u.astype(jnp.float32))
    assert y32.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(y32 - y64))) <= 1e-4 * float(jnp.max(jnp.abs(y64)))


def test_causality_vmap_grad(key):
    k1, k2 = jr.split(key)
    layer = _s4(k1, H=2, N=4)
    u = jr.normal(k2, (40, 2), jnp.float64)
    f = eqx.filter_jit(layer)
    y, y2 = f(u), f(u.at[15].add(1.0))
    assert float(jnp.max(jnp.abs(y2[:15] - y[:15]))) <= 1e-12 * float(jnp.max(jnp.abs(y)))
    assert float(jnp.max(jnp.abs(y2[15:] - y[15:]))) > 1e-3
    np.testing.assert_allclose(np.asarray(jax.vmap(layer)(jnp.stack([u, 2 * u]))[1]), np.asarray(2 * y),
                               rtol=1e-12, atol=1e-12)

    @jax.jit
    def loss(log_dt, p_re, lam_im):
        moved = eqx.tree_at(lambda m: (m.log_dt, m.p_re, m.lambda_im), layer, (log_dt, p_re, lam_im))
        return jnp.sum(moved(u) ** 2)

    check_grads(loss, (layer.log_dt, layer.p_re, layer.lambda_im), order=1, modes=("rev",))


def test_registry_and_errors(key):
    layer = make_layer("s4", d_model=4, seq_len=16, key=key, state_size=8)
    assert isinstance(layer, S4) and layer(jnp.ones((16, 4), jnp.float32)).dtype == jnp.float32
    with pytest.raises(ValueError, match="state_size"):
        S4(d_model=2, state_size=5, key=key)
    with pytest.raises(ValueError, match="state_size"):
        S4(d_model=2, state_size=0, key=key)
    with pytest.raises(ValueError, match="dt_min"):
        S4(d_model=2, dt_min=0.2, dt_max=0.1, key=key)
    with pytest.raises(ValueError, match="d_model"):
        S4(d_model=0, key=key)
    with pytest.raises(ValueError, match=r"\[L, H\]"):
        layer(jnp.ones((16, 3)))
