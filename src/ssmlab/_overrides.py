"""The one `key=value` override function for frozen config dataclasses (`--set` of every command).

`apply_overrides(cfg, {"lr": "1e-3", "layer.num_filters": "24"})` returns a copy of the frozen
dataclass `cfg` with each value parsed to its field's annotation:

- `int`, `float`, `str`; `bool` from true/false, yes/no, on/off, 1/0;
- `Literal[...]` choices (the error lists them); `X | None` takes `none` (or `null`);
- `tuple[X, ...]` / `tuple[X, Y]` from `a,b,c` (parentheses or brackets allowed, empty text = `()`);
  tuples of tuples from JSON, e.g. `[["*", "epochs", 2]]`;
- a dotted key walks into a field holding a frozen dataclass (`layer.num_filters`: the layer spec)
  or a mapping (`task_options.seq_len`; the owner's `option_types(field)` gives the value types);
  a class may rename prefixes with `OVERRIDE_ALIASES` (TrainConfig: `task.seq_len`);
- a field whose annotation class has `from_override(text)` (a `LayerSpec`) takes the whole value
  from text: `--set layer=s4d` is the S4D spec with its defaults.

Overrides apply in order and the dataclass re-validates (its `__post_init__`) after each. Errors are
`ValueError`s naming the key, the value and what would be accepted (the valid keys or choices).
`coerce(value, annotation, key)` is the same typing for values read back from JSON (lists -> tuples).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class FrozenOptions(Mapping):
    """An immutable, hashable `str -> value` mapping (keys sorted): options a dataclass field can hold."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | Any = ()):
        pairs = items.items() if isinstance(items, Mapping) else items
        data = {}
        for key, value in pairs:
            if not isinstance(key, str):
                raise TypeError(f"option names must be strings; got {key!r}.")
            data[key] = tuple(value) if isinstance(value, list) else value
        self._items = tuple(sorted(data.items()))

    def __getitem__(self, key: str) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenOptions({dict(self._items)!r})"

    def __deepcopy__(self, memo):
        return self


def keyword_parameters(fn) -> list[tuple[inspect.Parameter, Any]]:
    """(parameter, resolved annotation or Any) of each parameter of `fn` that can be passed by keyword."""
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):
        hints = {}
    return [(p, hints.get(p.name, Any)) for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


@functools.cache
def type_hints(cls: type) -> Mapping[str, Any]:
    """The resolved field annotations of dataclass `cls`; when one does not resolve, the others still do
    (each in its class's module) and that one stays text (parsed as int/float/bool/str by its name, else untyped).

    Cached per class (specs are built at every override and `dataclasses.replace`); read-only."""
    return types.MappingProxyType(_resolve_hints(cls))


def _resolve_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        pass
    out = {}
    for klass in reversed(cls.__mro__):
        namespace = dict(vars(sys.modules[klass.__module__])) if klass.__module__ in sys.modules else {}
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            try:
                out[name] = typing.get_type_hints(types.SimpleNamespace(__annotations__={name: annotation}),
                                                  globalns=namespace)[name]
            except (NameError, TypeError, SyntaxError):
                out[name] = annotation
    return out


def _choices_text(choices) -> str:
    return ", ".join(str(c) for c in choices)


def _is_union(tp) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _guess(text: str) -> Any:
    """An untyped value: int, float, bool, None or the text itself."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    return None if low in ("none", "null") else text


def parse_value(text: str, tp: Any, key: str) -> Any:
    """`text` parsed as annotation `tp`; ValueError naming `key` and what was expected."""
    text = text.strip()
    if tp is Any or tp is None or tp is dataclasses.MISSING:
        return _guess(text)
    if isinstance(tp, str):  # an annotation that did not resolve: judge by its text
        tp = {"int": int, "float": float, "bool": bool, "str": str}.get(tp.strip(), Any)
        return parse_value(text, tp, key)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        options.sort(key=lambda a: a is str)  # a number-looking text is a number when the union allows one
        errors = []
        for option in options:
            try:
                return parse_value(text, option, key)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[-1] if len(errors) == 1 else f"{key}: {text!r} matches none of "
                         f"{' | '.join(_type_text(a) for a in args)}.")
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == text or (isinstance(choice, str) and choice.lower() == text.lower()):
                return choice
        raise ValueError(f"{key} must be one of {_choices_text(args)}; got {text!r}.")
    if tp is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{key} expects a boolean (true/false); got {text!r}.")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{key} expects an integer; got {text!r}.") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{key} expects a number; got {text!r}.") from None
    if tp is str or tp is os.PathLike:
        return text
    if origin is tuple:
        if args and any(typing.get_origin(a) is tuple for a in args):  # nested tuples: JSON text
            try:
                return coerce(json.loads(text or "[]"), tp, key)
            except json.JSONDecodeError as err:
                raise ValueError(f"{key} expects JSON for a tuple of tuples, e.g. [[\"a\", 1]]; got {text!r} "
                                 f"({err.msg}).") from None
        body = text.strip("()[] ")
        items = [t.strip() for t in body.split(",")] if body else []
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(t, args[0], f"{key}[{i}]") for i, t in enumerate(items))
        if args and len(items) != len(args):
            raise ValueError(f"{key} expects {len(args)} comma-separated values; got {text!r}.")
        return tuple(parse_value(t, a, f"{key}[{i}]") for i, (t, a) in enumerate(zip(items, args or [Any] * len(items),
                                                                                         strict=True)))
    if isinstance(tp, type) and hasattr(tp, "from_override"):
        return tp.from_override(text, key)
    return _guess(text)


def _type_text(tp) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, key: str) -> Any:
    """A JSON-read `value` as annotation `tp` (lists -> tuples, ints -> floats, dicts -> spec dataclasses)."""
    if tp is Any or tp is dataclasses.MISSING or isinstance(tp, str):
        return _freeze(value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(tp):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option, key)
            except (TypeError, ValueError) as err:
                errors.append(str(err))
        raise ValueError(f"{key}: {value!r} matches none of {' | '.join(_type_text(a) for a in args)}.")
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{key} must be one of {_choices_text(args)}; got {value!r}.")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} expects a boolean; got {value!r}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} expects an integer; got {value!r}.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} expects a number; got {value!r}.")
        return float(value)
    if tp is str or tp is os.PathLike:
        if not isinstance(value, str):
            raise ValueError(f"{key} expects a string; got {value!r}.")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key} expects a list of values; got {value!r}.")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if args and len(value) != len(args):
            raise ValueError(f"{key} expects {len(args)} values; got {value!r}.")
        return tuple(coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args or [Any] * len(value),
                                                                                 strict=True)))
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ValueError(f"{key} expects a mapping; got {value!r}.")
        return FrozenOptions({k: _freeze(v) for k, v in value.items()})
    if isinstance(tp, type) and hasattr(tp, "from_dict") and isinstance(value, Mapping):
        return tp.from_dict(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    return _freeze(value)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def valid_keys(obj: Any) -> list[str]:
    """The field names an override of `obj` may name at its level."""
    return [f.name for f in dataclasses.fields(obj)]


def _unknown(obj: Any, name: str, full: str) -> ValueError:
    where = "" if full == name else f" ({type(obj).__name__} has no field {name!r})"
    return ValueError(f"unknown config key {full!r}{where}; valid keys: {', '.join(valid_keys(obj))}.")


def _set_one(obj: Any, path: list[str], text: str, full: str) -> Any:
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        raise ValueError(f"config key {full!r}: {type(obj).__name__} has no fields to set.")
    name = path[0]
    aliases = getattr(type(obj), "OVERRIDE_ALIASES", {})
    if len(path) > 1 and name in aliases:
        name = aliases[name]
    fields = {f.name: f for f in dataclasses.fields(obj)}
    if name not in fields:
        raise _unknown(obj, name, full)
    hints = type_hints(type(obj))
    current = getattr(obj, name)
    if len(path) == 1:
        value = parse_value(text, hints.get(name, Any), full)
    elif dataclasses.is_dataclass(current) and not isinstance(current, type):
        value = _set_one(current, path[1:], text, full)
    elif isinstance(current, Mapping):
        if len(path) != 2:
            raise ValueError(f"config key {full!r}: options of {name!r} are one level deep ({name}.<option>).")
        types_ = obj.option_types(name) if hasattr(obj, "option_types") else None
        option = path[1]
        if types_ is not None and option not in types_:
            raise ValueError(f"unknown config key {full!r}; valid options of {name}: "
                             f"{', '.join(types_) or '(none)'}.")
        value = FrozenOptions({**current, option: parse_value(text, (types_ or {}).get(option, Any), full)})
    else:
        raise ValueError(f"config key {full!r}: {name!r} is a {_type_text(type(current))}, not a config with "
                         "fields; set it as a whole.")
    return dataclasses.replace(obj, **{name: value})


def split_assignment(item: str) -> tuple[str, str]:
    """'key=value' -> ('key', 'value'); ValueError naming the item otherwise."""
    if "=" not in item:
        raise ValueError(f"--set expects key=value; got {item!r}.")
    key, value = item.split("=", 1)
    if not key.strip():
        raise ValueError(f"--set expects key=value with a key; got {item!r}.")
    return key.strip(), value.strip()


def apply_overrides(cfg: Any, overrides: Mapping[str, str] | list[str] | tuple[str, ...]):
    """A copy of frozen dataclass `cfg` with `key=value` overrides (a mapping, or 'key=value' strings) applied.

    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class C:
    ...     lr: float = 0.1
    ...     sizes: tuple[int, ...] = (1,)
    >>> apply_overrides(C(), {"lr": "1e-3", "sizes": "2,3"})
    C(lr=0.001, sizes=(2, 3))
    """
    items = overrides.items() if isinstance(overrides, Mapping) else (split_assignment(s) for s in overrides)
    for key, text in items:
        if not isinstance(text, str):
            raise TypeError(f"override {key!r} must be given as text (what --set passes); got {text!r}.")
        path = key.split(".")
        if any(not p for p in path):
            raise ValueError(f"config key {key!r} has an empty part; write e.g. layer.num_filters.")
        try:
            cfg = _set_one(cfg, path, text, key)
        except ValueError as err:
            message = str(err)
            raise ValueError(message if key in message else f"--set {key}={text!r}: {message}") from None
    return cfg
