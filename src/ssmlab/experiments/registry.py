"""Experiment registry: each paper result is one registered experiment.

An experiment module calls `register(Experiment(...))` at import time. It provides a frozen
config dataclass, a quick and a full configuration, `run(cfg, out_dir) -> Result` (the computation:
metrics, claims, arrays) and `plot(metrics, out_dir) -> list[Path]` (the figures). The runner writes
`config.json`, then `metrics.json` from the Result, and only then calls `plot` with the metrics read
back from that file, so every figure can be redrawn from the files alone (`replot`, `ssmlab plot`).
A plot function reads nothing but its `metrics` argument (and arrays `run` saved in `out_dir`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from .._overrides import apply_overrides as apply_overrides  # `Experiment.config` and `ssmlab run --set`

Verdict = Literal["pass", "fail", "partial", "info"]


@dataclasses.dataclass(frozen=True)
class Claim:
    """One row of the report table: what the paper claims, its value, ours, and the verdict."""

    claim: str
    paper: str
    ours: str
    verdict: str  # one of Verdict; validated below with a clear message

    def __post_init__(self):
        if self.verdict not in ("pass", "fail", "partial", "info"):
            raise ValueError(f"verdict must be pass/fail/partial/info; got {self.verdict!r}.")


@dataclasses.dataclass
class Result:
    """What an experiment returns: metrics (JSON-able), claims, figure paths and a short summary."""

    metrics: dict[str, Any]
    claims: list[Claim]
    figures: list[Path] = dataclasses.field(default_factory=list)
    summary: str = ""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A registered experiment: name, source paper, what it checks, configs and its run function."""

    name: str
    paper: str
    checks: str
    config_cls: type
    quick: Any
    full: Any
    run: Callable[[Any, Path], Result]
    plot: Callable[[dict[str, Any], Path], list[Path]] | None = None

    def config(self, preset: Literal["quick", "full"] = "quick", overrides: dict[str, str] | None = None):
        """The preset config with `key=value` string overrides parsed to the fields' types."""
        base = self.quick if preset == "quick" else self.full
        return apply_overrides(base, overrides or {})


_EXPERIMENTS: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    """Add an experiment to the registry (names are unique)."""
    if exp.name in _EXPERIMENTS and _EXPERIMENTS[exp.name] is not exp:
        raise ValueError(f"experiment {exp.name!r} is already registered.")
    for preset in (exp.quick, exp.full):
        if not isinstance(preset, exp.config_cls):
            raise TypeError(f"{exp.name}: presets must be {exp.config_cls.__name__} instances.")
    _EXPERIMENTS[exp.name] = exp
    return exp


def experiments() -> dict[str, Experiment]:
    """All registered experiments by name (importing `ssmlab.experiments` fills this)."""
    return dict(sorted(_EXPERIMENTS.items()))


def get(name: str) -> Experiment:
    """The experiment called `name`, with a helpful error if unknown."""
    if name not in _EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; `ssmlab list` shows: {', '.join(sorted(_EXPERIMENTS))}.")
    return _EXPERIMENTS[name]
