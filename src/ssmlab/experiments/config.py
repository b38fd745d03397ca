"""Experiment configs validate themselves: a bad value is refused when the config is built, before anything runs.

Every experiment config is a frozen dataclass deriving from `ExperimentConfig`. Building one (the preset, or
`dataclasses.replace` with `--set` overrides) runs the generic rules below on every field, then the config's
own `check()` for rules that involve several fields:

- integers are counts (>= 1), except fields named `seed` or `*_seed` (>= 0);
- floats are finite; fields whose name says they are a rate, tolerance, fraction, threshold, gain, bound,
  level, span, scale or target must be > 0; pole fields (`a`, `a0`, `teacher_a`, `max_pole`) need |a| < 1,
  the stability the theory assumes;
- tuples are non-empty (a run over no lengths checks nothing) unless listed in `MAY_BE_EMPTY`, and their
  items follow the same rules as a scalar field of that name;
- strings listed in `CHOICES` must be one of the choices.

Errors are `ValueError`s that name the field and what would be accepted, so the CLI can print them as one line.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

_POSITIVE_WORDS = ("tolerance", "lr", "rate", "fraction", "threshold", "gap", "gain", "bound", "level", "span",
                   "scale", "target")
_POLE_FIELDS = ("a", "a0", "teacher_a", "max_pole")


def _is_positive_name(name: str) -> bool:
    """Whether a float field's name says it must be > 0 (a word of the name starts with one of the words)."""
    return any(part.startswith(word) for part in name.split("_") for word in _POSITIVE_WORDS)


def _check_scalar(name: str, value: Any, where: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        low = 0 if name == "seed" or name.endswith("_seed") else 1
        if value < low:
            raise ValueError(f"{where} must be >= {low}; got {value}.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number; got {value}.")
        if name in _POLE_FIELDS and not abs(value) < 1:
            raise ValueError(f"{where} must satisfy |{name}| < 1 (a stable pole); got {value}.")
        if name not in _POLE_FIELDS and _is_positive_name(name) and not value > 0:
            raise ValueError(f"{where} must be > 0; got {value}.")


class ExperimentConfig:
    """Base of the experiments' frozen config dataclasses: validated on construction (see the module docstring)."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {}
    MAY_BE_EMPTY: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            name, value = field.name, getattr(self, field.name)
            if isinstance(value, tuple):
                if not value and name not in self.MAY_BE_EMPTY:
                    raise ValueError(f"{name} must not be empty (a run over no values checks nothing).")
                for i, item in enumerate(value):
                    _check_scalar(name.removesuffix("s") if name.endswith("s") else name, item, f"{name}[{i}]")
                    if name in self.CHOICES and item not in self.CHOICES[name]:
                        raise ValueError(f"{name}[{i}] must be one of {', '.join(self.CHOICES[name])}; got {item!r}.")
            else:
                _check_scalar(name, value, name)
                if name in self.CHOICES and value not in self.CHOICES[name]:
                    raise ValueError(f"{name} must be one of {', '.join(self.CHOICES[name])}; got {value!r}.")
        self.check()

    def check(self) -> None:
        """Rules across fields (override in a config); raise ValueError naming the fields."""
