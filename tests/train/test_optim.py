"""Parameter groups, the trainable filter and the schedule, checked against hand-computed updates."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.layers import layer_names, make_layer
from ssmlab.models import make_model
from ssmlab.train.config import TrainConfig
from ssmlab.train.optim import count_parameters, declare_fields, lr_schedule, make_optimizer, param_roles, trainable


class _WithFilters(eqx.Module):
    filters: jax.Array
    weight: jax.Array
    rate: jax.Array


declare_fields(_WithFilters, frozen=("filters",), recurrent=("rate",))


def _leaves_by_role(model):
    roles = jax.tree_util.tree_leaves(param_roles(model))
    arrays = [x for x in jax.tree_util.tree_leaves(model) if eqx.is_inexact_array(x)]
    assert len(roles) == len(arrays)
    return roles, arrays


def test_declared_frozen_and_recurrent_fields():
    m = _WithFilters(jnp.ones(3), jnp.ones(2), jnp.ones(1))
    mask = trainable(m)
    assert mask.filters is False and mask.weight is True and mask.rate is True
    assert param_roles(m).rate == "recurrent" and param_roles(m).weight == "default"
    assert count_parameters(m) == {"frozen": 3, "recurrent": 1, "default": 2}
    with pytest.raises(ValueError, match="both frozen and recurrent"):
        declare_fields(_WithFilters, frozen=("rate",), recurrent=("rate",))


class _UserRecurrent(eqx.Module):
    """A user's own module: roles on its fields, no registration anywhere."""

    rate: jax.Array = eqx.field(metadata={"role": "recurrent"})
    table: jax.Array = eqx.field(metadata={"role": "frozen"})
    weight: jax.Array
    inner: _WithFilters  # a declared module below: its own roles hold under this default field


class _RecurrentParent(eqx.Module):
    child: _UserRecurrent = eqx.field(metadata={"role": "recurrent"})  # inherited below unless a field says otherwise


class _Misspelt(eqx.Module):
    rate: jax.Array = eqx.field(metadata={"role": "recurent"})


def test_roles_declared_on_fields_need_no_registration():
    inner = _WithFilters(jnp.ones(3), jnp.ones(2), jnp.ones(1))
    m = _UserRecurrent(jnp.ones(4), jnp.ones(5), jnp.ones(6), inner)
    roles = param_roles(m)
    assert (roles.rate, roles.table, roles.weight) == ("recurrent", "frozen", "default")
    assert (roles.inner.filters, roles.inner.weight, roles.inner.rate) == ("frozen", "default", "recurrent")
    assert count_parameters(m) == {"frozen": 5 + 3, "recurrent": 4 + 1, "default": 6 + 2}
    assert trainable(m).table is False and trainable(m).rate is True
    parent = param_roles(_RecurrentParent(m))
    assert (parent.child.weight, parent.child.table, parent.child.inner.weight) == ("recurrent", "frozen", "recurrent")


def test_unknown_role_string_is_refused():
    with pytest.raises(ValueError, match=r"_Misspelt\.rate .*'recurent'.*one of \('frozen', 'recurrent', 'default'\)"):
        param_roles(_Misspelt(jnp.ones(2)))


@pytest.mark.parametrize("name", sorted(set(layer_names())))
def test_every_layer_declares_its_roles_on_fields(key, name):
    """The recurrent group of each registered layer, written out here (the groups the optimiser had by name)."""
    expected = {"lru": {"nu_log", "theta_log", "gamma_log", "b_re", "b_im"},
                "s4d": {"log_dt", "log_a_real", "a_imag", "b_re", "b_im"},
                "s4": {"log_dt", "log_lambda_re", "lambda_im", "p_re", "p_im", "b_re", "b_im"},
                "s5": {"log_lambda_re", "lambda_im", "log_step", "b_re", "b_im"},
                "mamba": {"a_log", "d", "dt_bias"}, "ar_stu": {"m_y"}, "stu": set(), "linear_ssm": set()}
    options = {"num_filters": 3} if "stu" in name else {"state_size": 4}
    layer = make_layer(name, d_model=4, seq_len=8, key=key, **options)
    roles = jax.tree_util.tree_flatten_with_path(param_roles(layer))[0]
    recurrent = {jax.tree_util.keystr(path).rsplit(".", 1)[-1] for path, role in roles if role == "recurrent"}
    assert recurrent == expected[name]
    assert {role for _, role in roles} <= {"recurrent", "default"}


@pytest.mark.skipif("stu" not in layer_names(), reason="STU layer not registered")
def test_stu_frozen_fields_never_trainable(key):
    from ssmlab.layers.stu import stu_frozen_fields

    layer = make_layer("stu", d_model=4, seq_len=32, key=key)
    names = stu_frozen_fields()
    assert names
    # Frozen by construction: the plain Equinox filter already excludes them, and `trainable` agrees.
    params, _ = eqx.partition(layer, eqx.is_inexact_array)
    assert all(getattr(params, name) is getattr(layer, name) for name in names)  # static, copied, not leaves
    assert jax.tree_util.tree_structure(trainable(layer)) == jax.tree_util.tree_structure(layer)
    assert all(jax.tree_util.tree_leaves(trainable(layer)))
    assert param_roles(layer).m_phi_plus == "default"
    assert count_parameters(layer)["frozen"] == sum(getattr(layer, n).size for n in names)


@pytest.mark.parametrize("layer", ["lru", "s4d"])
def test_one_step_routes_groups(key, layer):
    """Zero gradient: AdamW moves default params by -lr·wd·p only; recurrent ones (Adam, no decay) stay put.
    Gradient of ones: Adam's first step is -lr·g/(|g|+eps), so recurrent params move by -factor·lr."""
    model, _ = make_model(layer=layer, d_model=4, depth=1, d_out=3, seq_len=8, key=key,
                          layer_options={"state_size": 4})
    cfg = TrainConfig(lr=1e-2, lr_min=1e-2, warmup_frac=0.0, weight_decay=0.1, ssm_lr_factor=0.25, grad_clip=0.0)
    opt = make_optimizer(cfg, model, total_steps=10)
    params = eqx.filter(model, trainable(model))
    state = opt.init(params)
    roles, p0 = _leaves_by_role(params)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    upd, _ = opt.update(zeros, state, params)
    _, du = _leaves_by_role(upd)
    ones = jax.tree_util.tree_map(jnp.ones_like, params)
    upd1, _ = opt.update(ones, state, params)
    _, du1 = _leaves_by_role(upd1)
    assert "recurrent" in roles and "default" in roles
    for role, p, d, d1 in zip(roles, p0, du, du1, strict=True):
        if role == "default":
            np.testing.assert_allclose(np.asarray(d), np.asarray(-1e-2 * 0.1 * p), rtol=1e-5, atol=1e-12)
        else:
            np.testing.assert_allclose(np.asarray(d), 0.0, atol=0)
            np.testing.assert_allclose(np.asarray(d1), -0.25 * 1e-2, rtol=1e-5)


def test_schedule_matches_closed_form():
    cfg = TrainConfig(lr=1e-3, lr_min=1e-6, warmup_frac=0.1)
    total = 200
    sched = lr_schedule(cfg, total)
    warm = 20
    for step in (0, 5, 20, 21, 100, 199, 200):
        if step < warm:
            expect = 1e-6 + (1e-3 - 1e-6) * step / warm
        else:
            frac = (step - warm) / (total - warm)
            expect = 1e-6 + 0.5 * (1e-3 - 1e-6) * (1 + math.cos(math.pi * frac))
        assert abs(float(sched(step)) - expect) <= 1e-9 + 1e-6 * expect
    with pytest.raises(ValueError, match="total_steps"):
        lr_schedule(cfg, 0)
