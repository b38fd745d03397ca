"""Typed layer specs: spec.build equals make_layer with the same options; derived specs; JSON round trip."""

from __future__ import annotations

import dataclasses
import inspect
import json

import equinox as eqx
import jax
import jax.random as jr
import numpy as np
import pytest

from ssmlab.layers import (
    AbstractSequenceLayer,
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


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in ("lru", "stu") else pytest.mark.slow)
                                  for n in sorted(OPTIONS)])  # fast suite: one SSM and one STU (~1 s each)
def test_spec_build_equals_make_layer_with_the_same_options(name):
    opts = OPTIONS[name]
    spec = spec_for(name)(**opts)
    a = spec.build(d_model=2, seq_len=16, key=jr.key(3))
    b = make_layer(name, d_model=2, seq_len=16, key=jr.key(3), **opts)
    assert type(a) is type(b)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    assert all(np.array_equal(x, y) for x, y in zip(_arrays(a), _arrays(b), strict=True))


# Factory defaults that differ from the class's keyword defaults (set in the factory's body).
FACTORY_DEFAULTS = {("linear_ssm", "complex_state"): True, ("ar_stu", "preset"): "paper_ar_stu",
                    ("mamba", "state_size"): 16}  # mamba: state_size=None in the factory means d_state's 16
CLASSES = {"linear_ssm": "LinearSSM", "lru": "LRU", "s4d": "S4D", "s4": "S4", "s5": "S5", "mamba": "Mamba",
           "stu": "STU", "ar_stu": "STU"}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_spec_defaults_are_the_layers_own(name):
    """Every spec field that the layer class takes as a keyword has the class's (or the factory's) default."""
    import importlib

    module = importlib.import_module(f"ssmlab.layers.{'stu' if 'stu' in name else name}")
    params = dict(inspect.signature(getattr(module, CLASSES[name]).__init__).parameters)
    params |= {k: p for k, p in inspect.signature(base._REGISTRY[name]).parameters.items()
               if p.default is not inspect.Parameter.empty}  # the factory's own defaults (e.g. state_size=64)
    spec = spec_for(name)()
    checked = 0
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if (name, f.name) in FACTORY_DEFAULTS:
            assert value == FACTORY_DEFAULTS[(name, f.name)], f.name
        elif f.name == "dtype":
            assert np.dtype(params["dtype"].default) == np.dtype(value)
        elif f.name in params:
            assert value == params[f.name].default, (f.name, value, params[f.name].default)
        else:  # an STU structural option: None = the preset's value; the factory's own keywords
            assert value is None or f.name in ("use_tensordot_approx", "state_size"), f.name
        checked += 1
    assert checked == len(dataclasses.fields(spec)) > 2


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


class _Echo(AbstractSequenceLayer):
    """A layer that only records what its factory was given (no arrays: nothing to compile)."""

    given: tuple = eqx.field(static=True)

    def __call__(self, u):
        return u


def test_a_layer_registered_without_a_spec_gets_one_from_its_factory_signature(monkeypatch):
    def toy(*, d_model: int, seq_len: int, key, state_size: int = 5, r_min: float = 0.5, **options):
        return _Echo(tuple(sorted(dict(d_model=d_model, seq_len=seq_len, state_size=state_size, r_min=r_min,
                                       **options).items())))

    monkeypatch.setitem(base._REGISTRY, "toy-ssm", toy)
    cls = spec_for("toy-ssm")
    assert issubclass(cls, LayerSpec) and [f.name for f in dataclasses.fields(cls)] == ["state_size", "r_min"]
    spec = cls(state_size=3)
    assert spec == spec_from_dict(json.loads(json.dumps(spec_to_dict(spec))))
    assert dict(spec.build(d_model=2, seq_len=8, key=jr.key(0)).given) == {"d_model": 2, "seq_len": 8,
                                                                            "state_size": 3, "r_min": 0.5}
    with pytest.raises(ValueError, match="layer.r_min expects a number"):
        cls(r_min="high")
