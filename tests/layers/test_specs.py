"""Typed layer specs: spec.build equals make_layer with the same options; derived specs; JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import equinox as eqx
import jax
import jax.random as jr
import numpy as np
import pytest

from ssmlab.layers import (
    ARSTUSpec,
    LayerSpec,
    LRUSpec,
    STUSpec,
    base,
    layer_names,
    layer_spec,
    make_layer,
    spec_for,
    spec_from_dict,
    spec_to_dict,
)
from ssmlab.layers.linear_ssm import LinearSSM

# Non-default options for each registered layer (small sizes: one cheap build each).
OPTIONS = {
    "linear_ssm": {"state_size": 3, "complex_state": False, "r_min": 0.6},
    "lru": {"state_size": 3, "r_min": 0.5, "max_phase": 0.628},
    "s4d": {"state_size": 4, "init": "inv", "dt_min": 0.01},
    "s4": {"state_size": 4, "dt_max": 0.2},
    "s5": {"state_size": 4, "dt_min": 0.01},
    "mamba": {"state_size": 3, "expand": 1, "d_conv": 3},
    "stu": {"num_filters": 4, "preset": "official", "k_u": 2},
    "ar_stu": {"num_filters": 3, "k_y": 3},
}


def _arrays(layer):
    return jax.tree_util.tree_leaves(eqx.filter(layer, eqx.is_array))


def test_every_registered_layer_has_a_spec_in_the_table():
    assert set(OPTIONS) == set(layer_names())
    assert all(spec_for(n).name == n for n in layer_names())


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_spec_build_equals_make_layer_with_the_same_options(name):
    opts = OPTIONS[name]
    spec = spec_for(name)(**opts)
    a = spec.build(d_model=2, seq_len=16, key=jr.key(3))
    b = make_layer(name, d_model=2, seq_len=16, key=jr.key(3), **opts)
    assert type(a) is type(b)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    assert all(np.array_equal(x, y) for x, y in zip(_arrays(a), _arrays(b), strict=True))
    # the defaults are the layer's: a default spec builds the default layer
    c, d = spec_for(name)().build(d_model=2, seq_len=32, key=jr.key(4)), make_layer(name, d_model=2, seq_len=32,
                                                                                      key=jr.key(4))
    assert all(np.array_equal(x, y) for x, y in zip(_arrays(c), _arrays(d), strict=True))


def test_spec_json_round_trip_keeps_kind_and_types():
    for spec in (STUSpec(num_filters=8, preset="official", k_u=2), ARSTUSpec(), LRUSpec(r_min=0.5, state_size=7)):
        data = json.loads(json.dumps(spec_to_dict(spec)))
        assert data["name"] == spec.name
        back = spec_from_dict(data)
        assert back == spec and type(back) is type(spec)
    assert spec_from_dict({"name": "lru", "r_min": 0}).r_min == 0.0  # JSON int for a float field


def test_unknown_kind_or_option_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown layer 'nope'.*lru"):
        spec_from_dict({"name": "nope"})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['num_filters'\] for layer 'lru'; valid options: "
                                         "state_size"):
        layer_spec("lru", num_filters=3)
    with pytest.raises(ValueError, match="layer.num_filters must be > 0"):
        STUSpec(num_filters=0)
    with pytest.raises(ValueError, match="'name'"):
        spec_from_dict({"state_size": 3})


def test_a_layer_registered_without_a_spec_gets_one_from_its_factory_signature(monkeypatch):
    def toy(*, d_model: int, seq_len: int, key, state_size: int = 5, r_min: float = 0.5, **options):
        return LinearSSM(state_size=state_size, d_model=d_model, r_min=r_min, key=key, **options)

    monkeypatch.setitem(base._REGISTRY, "toy-ssm", toy)
    cls = spec_for("toy-ssm")
    assert issubclass(cls, LayerSpec) and [f.name for f in dataclasses.fields(cls)] == ["state_size", "r_min"]
    spec = cls(state_size=3)
    assert spec == spec_from_dict(json.loads(json.dumps(spec_to_dict(spec))))
    layer = spec.build(d_model=2, seq_len=8, key=jr.key(0))
    ref = make_layer("toy-ssm", d_model=2, seq_len=8, key=jr.key(0), state_size=3)
    assert all(np.array_equal(x, y) for x, y in zip(_arrays(layer), _arrays(ref), strict=True))
    with pytest.raises(ValueError, match="layer.r_min expects a number"):
        cls(r_min="high")
