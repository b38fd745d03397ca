"""Mamba block vs an independent NumPy implementation of the whole block; step = call; init; groups; errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from ssmlab.layers import make_layer
from ssmlab.layers.mamba import Mamba
from ssmlab.models import make_model
from ssmlab.train.optim import param_roles

H, N = 3, 4


def _mamba(key, **kw):
    return Mamba(d_model=H, d_state=N, dtype=jnp.float64, key=key, **kw)


def _perturbed(layer, seed=1):
    """Random values in every field (D != 1, A not S4D-Real) so no term hides behind its init value."""
    leaves, tree = jax.tree_util.tree_flatten(layer)
    rng = np.random.default_rng(seed)
    leaves = [x + 0.3 * rng.standard_normal(x.shape) for x in leaves]
    return jax.tree_util.tree_unflatten(tree, [jnp.asarray(x) for x in leaves])


def _silu(x):
    return x / (1.0 + np.exp(-x))


def _numpy_block(layer, u):
    """The whole block written out with explicit loops over time, channels and taps (float64)."""
    p = {k: np.asarray(getattr(layer, k)) for k in ("in_proj", "conv_w", "conv_b", "x_proj", "dt_proj", "dt_bias",
                                                   "a_log", "d", "out_proj")}
    L = u.shape[0]
    E, K = p["conv_w"].shape
    R, n = layer.dt_rank, p["a_log"].shape[1]
    A = -np.exp(p["a_log"])
    xz = np.array([p["in_proj"] @ u[t] for t in range(L)])
    x_in, z = xz[:, :E], xz[:, E:]
    x = np.zeros((L, E))
    for t in range(L):
        for e in range(E):
            acc = p["conv_b"][e]
            for k in range(K):
                s = t - (K - 1) + k
                if s >= 0:
                    acc += p["conv_w"][e, k] * x_in[s, e]
            x[t, e] = _silu(acc)
    state, out = np.zeros((E, n)), np.zeros((L, u.shape[1]))
    for t in range(L):
        dbc = p["x_proj"] @ x[t]
        delta = np.log1p(np.exp(p["dt_proj"] @ dbc[:R] + p["dt_bias"]))
        b, c = dbc[R:R + n], dbc[R + n:]
        y = np.zeros(E)
        for e in range(E):
            state[e] = np.exp(delta[e] * A[e]) * state[e] + delta[e] * x[t, e] * b
            y[e] = state[e] @ c + p["d"][e] * x[t, e]
        out[t] = p["out_proj"] @ (y * _silu(z[t]))
    return out


@pytest.fixture(scope="module")
def layers():
    base = _mamba(jr.key(0))
    return {"base": base, "perturbed": _perturbed(base)}


def _replace_method(layer, method):
    new = object.__new__(Mamba)
    for name in layer.__dataclass_fields__:
        object.__setattr__(new, name, method if name == "scan_method" else getattr(layer, name))
    return new


@pytest.mark.parametrize(("L", "method"), [(1, "sequential"), (7, "associative"), (40, "sequential"),
                                           (40, "associative")])
def test_block_matches_numpy(layers, L, method):
    layer = _replace_method(layers["perturbed"], method)
    u = np.random.default_rng(L).standard_normal((L, H))
    y = np.asarray(eqx.filter_jit(layer)(jnp.asarray(u)))
    ref = _numpy_block(layer, u)
    assert y.shape == (L, H) and y.dtype == np.float64
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-10 * np.max(np.abs(ref)))


def test_step_scan_equals_call(layers):
    layer = layers["perturbed"]
    u = jnp.asarray(np.random.default_rng(3).standard_normal((25, H)))

    @eqx.filter_jit
    def run_steps(m, u):
        return jax.lax.scan(lambda s, x: m.step(s, x), m.init_state(), u)

    (buf, ssm), ys = run_steps(layer, u)
    full = eqx.filter_jit(layer)(u)
    np.testing.assert_allclose(np.asarray(ys), np.asarray(full), rtol=0, atol=1e-10 * float(jnp.max(jnp.abs(full))))
    E = layer.d.shape[0]
    assert buf.shape == (3, E) and ssm.shape == (E, N)
    # the buffer holds the last d_conv - 1 branch inputs
    np.testing.assert_allclose(np.asarray(buf), np.asarray((u @ layer.in_proj.T)[-3:, :E]), atol=1e-12)


def test_init(layers):
    layer = layers["base"]
    E = 2 * H
    assert layer.in_proj.shape == (2 * E, H) and layer.x_proj.shape == (1 + 2 * N, E) and layer.dt_rank == 1
    np.testing.assert_allclose(np.asarray(layer.A), -np.broadcast_to(np.arange(1, N + 1), (E, N)), rtol=1e-14)
    np.testing.assert_array_equal(np.asarray(layer.d), np.ones(E))
    big = Mamba(d_model=64, d_state=2, dtype=jnp.float64, key=jr.key(1))
    dt = np.asarray(jax.nn.softplus(big.dt_bias))  # softplus(inverse_softplus(dt)) = dt at init
    assert big.dt_rank == 4 and dt.min() >= 1e-3 * (1 - 1e-12) and dt.max() <= 1e-1 * (1 + 1e-12)
    # log-uniform: log dt spread over the whole range, not bunched at one end
    assert np.quantile(np.log10(dt), 0.25) < -2.2 and np.quantile(np.log10(dt), 0.75) > -1.8


def test_float32_and_transforms(layers):
    l64 = layers["perturbed"]
    l32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x, l64)
    us = jr.normal(jr.key(2), (2, 20, H), jnp.float64)
    batched = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))
    y64 = batched(l64, us)
    y32 = batched(l32, us.astype(jnp.float32))
    assert y32.dtype == jnp.float32
    # measured relative error about 3e-7; one float32 rounding per op over 20 steps
    assert float(jnp.max(jnp.abs(y32 - y64))) <= 1e-5 * float(jnp.max(jnp.abs(y64)))
    ref = _numpy_block(l64, np.asarray(us[1]))  # vmap = per example
    np.testing.assert_allclose(np.asarray(y64[1]), ref, rtol=0, atol=1e-10 * np.max(np.abs(ref)))
    # grad (fast suite): the tiny selective-copying run trains Mamba inside SequenceModel; here, slow below


@pytest.mark.slow
def test_grad_matches_central_difference(layers):
    l64 = layers["perturbed"]
    us = jr.normal(jr.key(2), (2, 30, H), jnp.float64)

    def loss(m):
        return jnp.sum(jnp.sin(jax.vmap(m)(us)))

    grads = eqx.filter_jit(eqx.filter_grad(loss))(l64)
    for name in ("a_log", "dt_bias", "d", "in_proj", "conv_w", "conv_b", "x_proj", "dt_proj", "out_proj"):
        g = getattr(grads, name)
        assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.max(jnp.abs(g))) > 0, name
    # directional derivative along a random direction vs a central difference in float64
    rng = np.random.default_rng(4)
    v = jax.tree_util.tree_map(lambda x: jnp.asarray(rng.standard_normal(x.shape)), l64)
    eps = 1e-6
    f = eqx.filter_jit(lambda s: loss(jax.tree_util.tree_map(lambda x, dx: x + s * dx, l64, v)))
    fd = (f(eps) - f(-eps)) / (2 * eps)
    an = sum(jnp.sum(g * dx) for g, dx in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(v),
                                              strict=True))
    assert abs(float(fd - an)) <= 1e-6 * max(1.0, abs(float(an)))


def test_registered_and_param_groups():
    layer = make_layer("mamba", d_model=4, seq_len=8, key=jr.key(0), state_size=6, expand=1)
    assert isinstance(layer, Mamba) and layer.a_log.shape == (4, 6)
    assert make_layer("mamba", d_model=4, seq_len=8, key=jr.key(0), d_state=6, expand=1).a_log.shape == (4, 6)
    # forward and grad through SequenceModel: tests/experiments/test_selective_copying.py (token inputs)
    model, _ = make_model(layer="mamba", d_model=4, depth=1, d_out=3, seq_len=8, key=jr.key(0),
                          layer_options={"state_size": 6, "expand": 1})
    roles = param_roles(model.blocks[0].layer)
    assert (roles.a_log, roles.d, roles.dt_bias) == ("recurrent",) * 3
    assert roles.in_proj == roles.dt_proj == roles.out_proj == roles.conv_w == "default"


@pytest.mark.parametrize(("kw", "match"), [
    ({"d_state": 0}, "d_state must be a positive integer"),
    ({"expand": 0}, "expand must be a positive integer"),
    ({"d_conv": 0}, "d_conv must be a positive integer"),
    ({"dt_rank": 0}, "dt_rank must be a positive integer"),
    ({"dt_min": 0.1, "dt_max": 0.01}, "dt_min < dt_max"),
    ({"dt_min": 0.1, "dt_max": 0.1}, "dt_min < dt_max"),
    ({"dt_scale": 0.0}, "dt_scale must be > 0"),
    ({"scan_method": "fast"}, "method must be one of"),
])
def test_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        Mamba(d_model=H, key=jr.key(0), **kw)


def test_bad_inputs(layers):
    layer = layers["base"]
    with pytest.raises(ValueError, match=r"u must have shape \[L, H\] with H=3"):
        layer(jnp.ones((5, 4)))
    # wrong rank: our ValueError, or jaxtyping's TypeError first when the tests run with its import hook
    with pytest.raises((ValueError, TypeError), match=r"u must have shape \[L, H\]|parameter 'u'"):
        layer(jnp.ones((2, 5, 3)))
    with pytest.raises((ValueError, TypeError), match=r"u must have shape \[H\]|parameter 'u_t'"):
        layer.step(layer.init_state(), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"u must have shape \[H\] with H=3"):
        layer.step(layer.init_state(), jnp.ones(4))
    with pytest.raises(ValueError, match="give the state size once"):
        make_layer("mamba", d_model=4, seq_len=8, key=jr.key(0), state_size=6, d_state=5)
