"""Typed layer specs: one frozen dataclass per registered layer name, with the layer's options as fields.

A spec is what a config holds instead of a layer name plus an option string:

    >>> from ssmlab.layers import spec_for
    >>> spec = spec_for("lru")(state_size=32, r_min=0.5)
    >>> layer = spec.build(d_model=8, seq_len=64, key=jr.key(0))  # doctest: +SKIP

`spec.build(d_model=, seq_len=, key=)` calls the registered factory, `make_layer(spec.name, ...,
**spec.options())`, so a spec and `make_layer` with the same options give the same layer. Fields
default to the layer's own defaults; a field that defaults to None means "the layer decides" (e.g. the
STU's preset-dependent options) and is not passed. `dtype` is a name ("float32" / "float64").

Each layer module defines its spec next to its factory and registers it with `@register_spec`
(`name` is a class variable). A layer registered with `register_layer` and no spec still works:
`spec_for(name)` derives a spec class from the factory's keyword signature (one field per keyword
parameter with a default, typed by its annotation, `d_model`, `seq_len`, `key` and `**options`
excluded). Options the factory only takes through `**options` need a registered spec.

Specs validate on construction: every field against its annotation (type, `Literal` choices), then
the spec's own `check()`; errors name the field. `spec_to_dict` / `spec_from_dict` are the JSON
form, `{"name": name, field: value, ...}`, that config.json stores
(a field may not be called `name`: it is the class variable).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

import jax.numpy as jnp

from .._overrides import coerce, keyword_parameters, type_hints
from .base import _REGISTRY, AbstractSequenceLayer, layer_names, make_layer

DTYPES = {"float32": jnp.float32, "float64": jnp.float64}
Dtype = typing.Literal["float32", "float64"]
ScanMethod = typing.Literal["sequential", "associative", "auto"]  # core.scan.linear_recurrence


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """Base of the layer specs: a registered layer name (`name`, a class variable) and its typed options."""

    name: ClassVar[str] = ""

    def __post_init__(self):
        hints = type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            checked = coerce(value, hints.get(f.name, Any), f"layer.{f.name}")
            if checked != value or type(checked) is not type(value):
                object.__setattr__(self, f.name, checked)  # e.g. 1 -> 1.0 for a float field, a list -> tuple
        self.check()

    def check(self) -> None:
        """Rules beyond the field types (override; raise ValueError naming the field)."""

    def options(self) -> dict[str, Any]:
        """The factory keyword options of this spec (fields left at None are the layer's choice: not passed)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = DTYPES[value] if f.name == "dtype" else value
        return out

    def build(self, *, d_model: int, seq_len: int, key) -> AbstractSequenceLayer:
        """The layer for width `d_model` and sequences of length `seq_len` (the registered factory's)."""
        return make_layer(self.name, d_model=d_model, seq_len=seq_len, key=key, **self.options())

    @classmethod
    def from_override(cls, text: str, key: str = "layer") -> LayerSpec:
        """`--set layer=NAME`: the spec of layer NAME with its defaults."""
        name = text.strip()
        if name not in layer_names():
            raise ValueError(f"{key} must name a registered layer, one of {', '.join(layer_names())}; got {name!r}.")
        return spec_for(name)()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerSpec:
        """The spec of `spec_to_dict` output (`{"name": layer name, ...}`)."""
        return spec_from_dict(data)


def positive(spec: LayerSpec, *names: str) -> None:
    """ValueError unless every named integer/float field is > 0 (None = the layer's default is allowed)."""
    for n in names:
        value = getattr(spec, n)
        if value is not None and not value > 0:
            raise ValueError(f"layer.{n} must be > 0 for layer {spec.name!r}; got {value!r}.")


_SPECS: dict[str, type[LayerSpec]] = {}
_DERIVED: dict[tuple[str, Any], type[LayerSpec]] = {}


def register_spec(cls: type[LayerSpec]) -> type[LayerSpec]:
    """Class decorator: make `cls` the spec of the registered layer `cls.name`."""
    if not (isinstance(cls, type) and issubclass(cls, LayerSpec) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"register_spec takes a frozen dataclass deriving from LayerSpec; got {cls!r}.")
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a class variable `name` (the registered layer name).")
    if cls.name in _SPECS and _SPECS[cls.name] is not cls:
        raise ValueError(f"layer {cls.name!r} already has a spec ({_SPECS[cls.name].__name__}).")
    _SPECS[cls.name] = cls
    return cls


_SKIP = ("d_model", "seq_len", "key", "name")  # `name` is the spec's class variable


def _derived_spec(name: str) -> type[LayerSpec]:
    """A spec class from the keyword signature of the factory registered as `name` (see the module docstring)."""
    factory = _REGISTRY[name]
    cached = _DERIVED.get((name, factory))
    if cached is not None:
        return cached
    fields = []
    for p, tp in keyword_parameters(factory):
        if p.name in _SKIP or p.default is inspect.Parameter.empty:
            continue
        default = p.default
        if isinstance(default, (list, dict)):
            raise TypeError(f"layer {name!r}: option {p.name!r} has a mutable default; register a LayerSpec "
                            "for it with ssmlab.layers.register_spec.")
        fields.append((p.name, tp, dataclasses.field(default=default)))
    title = "".join(part.capitalize() for part in name.replace("-", "_").split("_")) + "Spec"
    cls = dataclasses.make_dataclass(title, fields, bases=(LayerSpec,), frozen=True,
                                     namespace={"name": name, "__doc__": f"Derived spec of layer {name!r} (options "
                                                "from its factory's keyword signature)."})
    cls.__module__ = __name__
    _DERIVED[(name, factory)] = cls
    return cls


def spec_for(name: str) -> type[LayerSpec]:
    """The spec class of registered layer `name` (its registered spec, else one derived from its factory)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown layer {name!r}; choose one of {', '.join(layer_names())}.")
    return _SPECS.get(name) or _derived_spec(name)


def has_option(name: str, option: str) -> bool:
    """Whether layer `name`'s spec has a field `option` (e.g. which layers take a `state_size`)."""
    return option in {f.name for f in dataclasses.fields(spec_for(name))}


def layer_spec(name: str, **options) -> LayerSpec:
    """`spec_for(name)(**options)` with the values typed as the fields (JSON ints for floats, lists for tuples);
    an error names the valid options when one is unknown."""
    cls = spec_for(name)
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for layer {name!r}; valid options: {', '.join(valid)}.")
    hints = type_hints(cls)  # typed before __init__: a runtime type checker on the dataclass sees the field types
    return cls(**{k: coerce(v, hints.get(k, Any), f"layer.{k}") for k, v in options.items()})


def spec_to_dict(spec: LayerSpec) -> dict[str, Any]:
    """`{"name": spec.name, field: value, ...}` (tuples as lists): the JSON form config.json stores."""
    out: dict[str, Any] = {"name": spec.name}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def spec_from_dict(data: Mapping[str, Any]) -> LayerSpec:
    """The spec of `spec_to_dict` output; ValueError naming an unknown layer or field."""
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise ValueError(f"a layer spec is a mapping with a 'name' (the registered layer name); got {data!r}.")
    fields = {k: v for k, v in data.items() if k != "name"}
    return layer_spec(data["name"], **fields)
