"""The one override function (`ssmlab._overrides.apply_overrides`): typed values, nested paths, clear errors."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import pytest

from ssmlab._overrides import FrozenOptions, apply_overrides, coerce, parse_value
from ssmlab.layers import LayerSpec, LRUSpec, S4DSpec, STUSpec


@dataclasses.dataclass(frozen=True)
class _Inner:
    n: int = 1
    mode: Literal["a", "b"] = "a"


@dataclasses.dataclass(frozen=True)
class _Cfg:
    lr: float = 0.1
    steps: int = 3
    flag: bool = False
    name: str = "x"
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[float, str] = (0.5, "u")
    cap: int | None = None
    rows: tuple[tuple[str, Any], ...] = ()
    inner: _Inner = _Inner()
    layer: LayerSpec = LRUSpec()


def test_scalars_tuples_bools_and_none_are_parsed_to_the_field_types():
    got = apply_overrides(_Cfg(), {"lr": "1e-3", "steps": "7", "flag": "yes", "name": "y", "sizes": "(4, 5,6)",
                                   "pair": "2,v", "cap": "12", "rows": '[["a", 1], ["b", "c"]]'})
    assert got == _Cfg(lr=1e-3, steps=7, flag=True, name="y", sizes=(4, 5, 6), pair=(2.0, "v"), cap=12,
                       rows=(("a", 1), ("b", "c")))
    assert apply_overrides(got, ["cap=none", "sizes="]).cap is None
    assert apply_overrides(got, ["sizes="]).sizes == ()
    assert isinstance(apply_overrides(_Cfg(), {"lr": "1"}).lr, float)


def test_nested_paths_reach_into_dataclass_fields_and_keep_the_rest():
    got = apply_overrides(_Cfg(), ["inner.n=5", "inner.mode=b", "layer.state_size=8", "layer.r_min=0.25"])
    assert got.inner == _Inner(n=5, mode="b") and got.layer == LRUSpec(state_size=8, r_min=0.25)
    assert got.lr == _Cfg().lr


def test_whole_spec_from_a_layer_name_then_its_fields():
    got = apply_overrides(_Cfg(), ["layer=s4d", "layer.dt_min=0.01"])
    assert got.layer == S4DSpec(dt_min=0.01)
    with pytest.raises(ValueError, match="registered layer.*lru"):
        apply_overrides(_Cfg(), ["layer=nope"])


@pytest.mark.parametrize("item, words", [
    ("nope=1", ["unknown config key 'nope'", "valid keys: lr, steps"]),
    ("inner.m=1", ["unknown config key 'inner.m'", "_Inner has no field 'm'", "valid keys: n, mode"]),
    ("layer.num_filters=3", ["'layer.num_filters'", "LRUSpec", "state_size"]),
    ("steps=abc", ["steps", "integer", "'abc'"]),
    ("lr=fast", ["lr", "number"]),
    ("flag=maybe", ["flag", "boolean"]),
    ("inner.mode=c", ["inner.mode", "one of a, b", "'c'"]),
    ("sizes=1,x", ["sizes[1]", "integer"]),
    ("pair=1,2,3", ["pair", "2 comma-separated"]),
    ("name.x=1", ["name.x", "str", "as a whole"]),
    ("layer.state_size=0", ["layer.state_size", "> 0"]),
    ("layer.mode=fast", ["layer.mode", "recurrent, convolution"]),
    ("novalue", ["--set expects key=value"]),
    ("layer..x=1", ["empty part"]),
])
def test_bad_overrides_name_the_key_and_what_is_accepted(item, words):
    with pytest.raises(ValueError) as err:
        apply_overrides(_Cfg(), [item])
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_stu_preset_is_a_typed_choice_with_a_clear_error():
    spec = apply_overrides(STUSpec(), ["preset=official", "num_filters=8", "k_y=3"])
    assert (spec.preset, spec.num_filters, spec.k_y) == ("official", 8, 3)
    with pytest.raises(ValueError, match="preset must be one of paper_eq4, paper_ar_stu, official"):
        apply_overrides(STUSpec(), ["preset=paper"])
    with pytest.raises((ValueError, TypeError), match="preset"):  # TypeError: the test suite's runtime checker
        STUSpec(preset="paper")  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class _WithOptions:
    OVERRIDE_ALIASES = {"task": "task_options"}
    task_options: FrozenOptions = FrozenOptions()

    def option_types(self, name):
        return {"seq_len": int, "root": str}


def test_mapping_fields_take_typed_options_and_aliases():
    got = apply_overrides(_WithOptions(), ["task.seq_len=16", "task_options.root=/x"])
    assert dict(got.task_options) == {"seq_len": 16, "root": "/x"}
    with pytest.raises(ValueError, match="valid options of task_options: seq_len, root"):
        apply_overrides(_WithOptions(), ["task.nope=1"])
    with pytest.raises(ValueError, match="task.seq_len expects an integer"):
        apply_overrides(_WithOptions(), ["task.seq_len=x"])


def test_coerce_reads_json_values_back_to_the_annotation():
    assert coerce([1, 2], tuple[int, ...], "k") == (1, 2)
    assert coerce(1, float, "k") == 1.0 and isinstance(coerce(1, float, "k"), float)
    assert coerce(None, int | None, "k") is None
    with pytest.raises(ValueError, match="k expects an integer"):
        coerce(1.5, int, "k")
    with pytest.raises(ValueError, match="one of a, b"):
        coerce("c", Literal["a", "b"], "k")
    rank = int | Literal["auto"]
    assert parse_value("3", rank, "k") == 3 and parse_value("auto", rank, "k") == "auto"


def test_frozen_options_are_immutable_hashable_and_sorted():
    a, b = FrozenOptions({"b": 1, "a": [2, 3]}), FrozenOptions([("a", (2, 3)), ("b", 1)])
    assert a == b and hash(a) == hash(b) and list(a) == ["a", "b"] and a["a"] == (2, 3)
    assert a == {"a": (2, 3), "b": 1}


@dataclasses.dataclass(frozen=True)
class _Partly:
    sizes: tuple[int, ...] = (1,)
    other: NotDefinedHere | None = None  # noqa: F821 (an annotation that does not resolve)


def test_one_unresolvable_annotation_leaves_the_other_fields_typed():
    assert apply_overrides(_Partly(), ["sizes=2,3"]).sizes == (2, 3)
