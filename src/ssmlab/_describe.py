"""Plain-text tables of config dataclasses and factory options, for `ssmlab show` and `--show-config`."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

MAX_CELL = 40


def type_name(annotation: Any) -> str:
    """A short readable name for a field's annotation (which may be a string under `from __future__`)."""
    if isinstance(annotation, str):
        return annotation.replace("typing.", "")
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _cell(value: Any) -> str:
    if value is dataclasses.MISSING or value is inspect.Parameter.empty:
        text = "-"
    elif isinstance(value, tuple):  # as `--set key=a,b,c` takes it
        text = ",".join(str(v) for v in value)
    elif isinstance(value, Mapping):  # options (e.g. task options), set one by one with `--set field.key=v`
        text = ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    elif dataclasses.is_dataclass(value) and isinstance(getattr(type(value), "name", None), str):
        text = type(value).name  # a layer spec: its fields are listed in a table of their own
    else:
        text = repr(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])


def field_comments(cls: type) -> dict[str, str]:
    """The trailing `# comment` of each field line in the class body (empty when the source is unavailable)."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    names = {f.name for f in dataclasses.fields(cls)}
    out = {}
    for line in lines:
        head, sep, comment = line.partition("  # ")
        name = head.strip().split(":", 1)[0]
        if sep and name in names and ":" in head:
            out[name] = comment.strip()
    return out


def describe_config(cls: type, presets: dict[str, Any] | None = None, notes: dict[str, str] | None = None) -> str:
    """Table key / type / default / one column per preset instance / notes (given, else the field's comment)."""
    presets, notes = presets or {}, field_comments(cls) | (notes or {})
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that does not resolve here: show its text
        hints = {}
    header = ["key", "type", "default", *presets] + (["notes"] if notes else [])
    rows = []
    for f in dataclasses.fields(cls):
        row = [f.name, type_name(hints.get(f.name, f.type)), _cell(_default(f))]
        row += [_cell(getattr(p, f.name)) for p in presets.values()]
        rows.append(row + ([str(notes.get(f.name, ""))] if notes else []))
    return format_table(header, rows)


def describe_options(factory: Callable) -> str:
    """Table option / type / default of the keyword parameters of `factory` (a task or layer factory)."""
    rows = [[p.name, type_name(p.annotation) if p.annotation is not inspect.Parameter.empty else "-", _cell(p.default)]
            for p in inspect.signature(factory).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return format_table(["option", "type", "default"], rows) if rows else "(no options)"
