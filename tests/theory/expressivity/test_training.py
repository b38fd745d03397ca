"""Trainable modal deep SSM: impulse response, norm-ball projection, projected Adam."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.test_util
import numpy as np
import pytest

from ssmlab.theory.expressivity import l1_gain, layer_output, parameter_norm, random_shallow_ssm, shallow_gain_bound
from ssmlab.theory.expressivity.training import (
    ModalDeepSSM,
    fit_impulse_response,
    init_modal,
    modal_norm,
    project_modal,
    relative_error,
)


def random_modal(seed, depth=3, width=2, scale=3.0):
    k1, k2, k3, k4 = jr.split(jr.key(seed), 4)
    base = init_modal(depth=depth, width=width, key=k1)
    return ModalDeepSSM(base.a * 1.05, scale * jr.normal(k2, base.b.shape), scale * jr.normal(k3, base.c.shape),
                        scale * jr.normal(k4, base.d.shape))


def test_modal_impulse_matches_conjugate_expanded_recurrence():
    model = random_modal(0)
    L = 200
    h = np.asarray(model.impulse_response(length=L))
    deep = model.to_deep()
    assert deep.widths == (4, 4, 4) and deep.parameter_count == model.parameter_count
    u = jnp.zeros(L).at[0].set(1.0)
    for lay in deep.layers:
        u = jax.jit(layer_output)(lay, u)
    np.testing.assert_allclose(h, np.asarray(u), rtol=0, atol=1e-12 * np.abs(h).max())
    assert model.parameter_count == 3 * (6 * 2 + 1)


@pytest.mark.parametrize("kind", ["inf", "spectral"])
def test_projection_feasible_idempotent_and_nearest(kind):
    model = random_modal(1)
    bound = 1.5
    proj = project_modal(model, bound=bound, kind=kind, max_pole=0.9)
    assert float(modal_norm(proj, kind)) <= bound * (1 + 1e-12)
    assert float(modal_norm(proj, kind)) == pytest.approx(float(parameter_norm(proj.to_deep(), kind)), rel=1e-12)
    assert float(jnp.max(jnp.hypot(proj.a[..., 0], proj.a[..., 1]))) <= 0.9 * (1 + 1e-12)
    again = project_modal(proj, bound=bound, kind=kind, max_pole=0.9)
    assert all(np.allclose(x, y, rtol=1e-14) for x, y in zip(jax.tree.leaves(proj), jax.tree.leaves(again),
                                                              strict=True))
    # Nearest point: no other feasible point (random, projected) is closer to the original.
    flat = lambda m: jnp.concatenate([x.ravel() for x in jax.tree.leaves(m)])  # noqa: E731
    dist = float(jnp.linalg.norm(flat(model) - flat(proj)))
    for s in range(20):
        other = project_modal(random_modal(100 + s, scale=1.0), bound=bound, kind=kind, max_pole=0.9)
        assert float(jnp.linalg.norm(flat(model) - flat(other))) >= dist


def test_impulse_response_gradients():
    model = random_modal(2, depth=2, width=1, scale=0.5)
    def h(b):
        return ModalDeepSSM(model.a, jnp.asarray(b), model.c, model.d).impulse_response(length=16)

    jax.test_util.check_grads(h, (model.b,), order=1, modes=("fwd", "rev"))


@pytest.mark.dtype_promotion("standard")  # optax's Adam: b1 ** count (a Python float to an int32 step count)
def test_projected_training_fits_and_respects_the_bound():
    target = random_shallow_ssm(n_pairs=1, gain=1.0, seed=3).impulse_response(length=32)
    fit = eqx.filter_jit(lambda t, k: fit_impulse_response(t, depth=2, width=1, key=k, bound=2.0, steps=300,
                                                           learning_rate=2e-2))
    model, errs = fit(target, jr.key(0))
    assert errs.shape == (301,)
    assert float(errs[-1]) < 0.5 * float(errs[0])
    assert float(relative_error(model.impulse_response(length=32), target)) == pytest.approx(float(errs.min()))
    assert float(modal_norm(model)) <= 2.0 * (1 + 1e-12)


@pytest.mark.slow
@pytest.mark.dtype_promotion("standard")  # optax's Adam, as above
def test_projected_shallow_never_exceeds_R5_gain_bound():
    """Trained on a target far beyond its reach, a norm-bounded shallow model stays below M + m M²/(1-ρ)."""
    target = random_shallow_ssm(n_pairs=2, gain=1e4, seed=5).impulse_response(length=64)
    model, _ = fit_impulse_response(target, depth=1, width=3, key=jr.key(1), bound=2.0, steps=150,
                                    learning_rate=5e-2, max_pole=0.95)
    gain = float(l1_gain(model.to_deep().impulse_response(length=2000)))
    assert gain <= shallow_gain_bound(width=6, bound=2.0, rho=0.95)
    assert gain < float(l1_gain(target))


def test_training_errors():
    with pytest.raises(ValueError, match="depth"):
        init_modal(depth=0, width=1, key=jr.key(0))
    with pytest.raises(ValueError, match="r_max"):
        init_modal(depth=1, width=1, key=jr.key(0), r_max=1.2)
    with pytest.raises(ValueError, match="kind"):
        project_modal(random_modal(0), bound=2.0, kind="max")


def test_float32_impulse_response_close_to_float64():
    """The trainable model runs in float32 too: same map to float32 accuracy, dtype preserved."""
    model = random_modal(3, scale=1.0)
    m32 = jax.tree.map(lambda x: x.astype(jnp.float32), model)
    h32, h64 = m32.impulse_response(length=64), model.impulse_response(length=64)
    assert h32.dtype == jnp.float32 and h64.dtype == jnp.float64
    err = float(jnp.max(jnp.abs(h32.astype(jnp.float64) - h64)) / jnp.max(jnp.abs(h64)))
    assert err < 1e-5
