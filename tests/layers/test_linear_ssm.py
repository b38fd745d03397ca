import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from ssmlab.layers import LinearSSM, layer_names, make_layer

MODES = ("recurrent", "convolution", "frequency")


def numpy_reference(model, u):
    """Python-loop recurrence on the dense complex system (independent of ssmlab.core)."""
    a, b, c = np.asarray(model.a), np.asarray(model.b), np.asarray(model.c)
    x = np.zeros(a.shape[0], dtype=complex)
    ys = []
    for t in range(u.shape[0]):
        x = a * x + b @ u[t]
        ys.append(np.real(c @ x))
    y = np.array(ys)
    return y if model.d is None else y + u @ np.asarray(model.d).T


@pytest.mark.parametrize("L", [1, 2, 3, 7, 64, 1000, 4097])
@pytest.mark.parametrize("complex_state", [False, True])
def test_three_modes_agree_float64(L, complex_state, key):
    model = LinearSSM(state_size=8, d_model=3, d_out=2, complex_state=complex_state, dtype=jnp.float64, key=key)
    u = jr.normal(jr.key(L), (L, 3), jnp.float64)
    outs = {m: model.with_mode(m)(u) for m in MODES}
    scale = float(jnp.abs(outs["recurrent"]).max())
    for m in ("convolution", "frequency"):
        np.testing.assert_allclose(outs[m], outs["recurrent"], rtol=0, atol=1e-10 * scale)
    if L <= 1000:
        np.testing.assert_allclose(outs["recurrent"], numpy_reference(model, np.asarray(u)), atol=1e-10 * scale)


def test_siso_and_float32(key):
    model = LinearSSM(state_size=4, d_model=1, complex_state=True, key=key)
    u = jr.normal(key, (256, 1), jnp.float32)
    outs = {m: model.with_mode(m)(u) for m in MODES}
    for m in MODES:
        assert outs[m].dtype == jnp.float32
    ref = numpy_reference(model, np.asarray(u, np.float64))
    for m in MODES:
        assert np.abs(np.asarray(outs[m], np.float64) - ref).max() <= 1e-5 * np.abs(ref).max()


def test_frequency_mode_is_causal_not_circular(key):
    model = LinearSSM(state_size=4, d_model=1, use_d=False, r_min=0.9, r_max=0.95, dtype=jnp.float64,
                      key=key).with_mode("frequency")
    u = jnp.zeros((32, 1), jnp.float64).at[31].set(1.0)  # an impulse at the last step
    y = model(u)
    assert float(jnp.abs(y[:31]).max()) < 1e-13 * float(jnp.abs(y).max())
    u2 = u.at[5].set(3.0)
    # perturbing u_5 changes nothing before t=5
    np.testing.assert_allclose(model(u2)[:5], y[:5], atol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_jit_vmap_grad(mode, key):
    model = LinearSSM(state_size=4, d_model=2, complex_state=True, dtype=jnp.float64, key=key).with_mode(mode)
    us = jr.normal(key, (3, 16, 2), jnp.float64)
    eager = jax.vmap(model)(us)
    jitted = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))(model, us)
    np.testing.assert_allclose(eager, jitted, atol=1e-12)

    def loss(m):
        return jnp.mean(jax.vmap(m)(us) ** 2)

    grads = eqx.filter_grad(loss)(model)
    ref = eqx.filter_grad(loss)(model.with_mode("recurrent"))
    for g, r in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(ref), strict=True):
        np.testing.assert_allclose(g, r, atol=1e-10)


def test_from_arrays_and_kernel():
    a = jnp.array([0.5, -0.25])
    b = jnp.array([[1.0], [2.0]])
    c = jnp.array([[1.0, 1.0]])
    model = LinearSSM.from_arrays(a, b, c, mode="convolution")
    np.testing.assert_allclose(model.kernel(3)[:, 0, 0], [3.0, 0.0, 0.375], atol=1e-15)
    np.testing.assert_allclose(model(jnp.ones((3, 1)))[:, 0], [3.0, 3.0, 3.375], atol=1e-14)


def test_d_in_is_a_deprecated_alias_of_d_model(key):
    new = LinearSSM(state_size=3, d_model=2, key=key)
    with pytest.warns(DeprecationWarning, match=r"LinearSSM\(d_in=\.\.\.\) is deprecated"):
        old = LinearSSM(state_size=3, d_in=2, key=key)
    np.testing.assert_array_equal(np.asarray(old.b_re), np.asarray(new.b_re))
    with pytest.raises(TypeError, match="d_model only"):
        LinearSSM(state_size=3, d_model=2, d_in=2, key=key)


def test_bad_input(key):
    with pytest.raises(ValueError, match="mode must be one of"):
        LinearSSM(state_size=2, d_model=1, mode="fourier", key=key)
    model = LinearSSM(state_size=2, d_model=3, key=key)
    with pytest.raises(ValueError, match=r"u must have shape \[L, Hin\]"):
        model(jnp.ones((5, 2)))
    with pytest.raises(ValueError, match="jax.vmap"):
        model(jnp.ones((2, 5, 3)))
    with pytest.raises(ValueError, match="L >= 1"):
        model(jnp.ones((0, 3)))
    unstable = LinearSSM.from_arrays(jnp.array([1.01]), jnp.ones((1, 1)), jnp.ones((1, 1)), mode="frequency")
    with pytest.raises(ValueError, match="strictly stable"):
        unstable(jnp.ones((4, 1)))
    with pytest.raises(Exception, match=r"\|a\| < 1"):
        eqx.filter_jit(unstable)(jnp.ones((4, 1)))
    with pytest.raises(ValueError, match="r_max"):
        LinearSSM(state_size=2, d_model=1, r_max=1.0, key=key)


def test_registry(key):
    assert "linear_ssm" in layer_names()
    layer = make_layer("linear_ssm", d_model=4, seq_len=32, key=key, state_size=8)
    assert layer(jnp.ones((32, 4))).shape == (32, 4)
    with pytest.raises(ValueError, match="unknown layer"):
        make_layer("transformer", d_model=4, seq_len=8, key=key)
