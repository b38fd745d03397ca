"""Training configuration: one frozen dataclass, saved with every run, plus per-task presets.

`TrainConfig` holds everything that determines a run's numbers. `config_hash` covers every field
except `RUN_ONLY_FIELDS` (how far to run, logging, distribution), so a run stopped with
`max_steps` can be resumed with a different `max_steps` and still match its checkpoint.

Presets: `register_preset(task, name, factory)` with `factory(model: str) -> TrainConfig`;
`preset(task, name, model)` builds one, `preset_names(task)` lists them. The digits presets
("quick", "paper") are registered by `ssmlab.train.presets`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Model, optimiser, schedule and data settings of one training run."""

    task: str = "digits"
    model: str = "lru"
    depth: int = 2
    d_model: int = 64
    state_size: int = 0  # passed to the layer factory when > 0 (LRU, S4D, linear_ssm); 0 = layer default
    norm: str = "layer"
    prenorm: bool = True
    mixing: str = "glu"
    dropout: float = 0.0
    pooling: str = "task"  # "task" = the task's own pooling
    layer_options: str = ""  # extra layer factory options, "key=value;key=value" (numbers parsed)
    task_options: str = ""  # extra task factory options, same syntax
    batch_size: int = 64
    epochs: int = 10
    lr: float = 3e-3
    lr_min: float = 1e-7
    warmup_frac: float = 0.1
    weight_decay: float = 0.05
    ssm_lr_factor: float = 0.5  # LR multiplier for recurrent (SSM/AR) parameters, which get no weight decay
    grad_clip: float = 1.0
    seed: int = 0
    # run-only fields (not part of the hash)
    max_steps: int = 0  # stop (with a checkpoint) after this many steps in total; 0 = run all epochs
    eval_every: int = 1  # epochs between evaluations
    checkpoint_every: int = 0  # steps between checkpoints (0 = end of each epoch only)
    log_every: int = 10  # steps between JSONL step records
    progress: bool = True  # live bar on a terminal; plain lines on stdout when it is not a terminal
    print_every: int = 0  # steps between plain progress lines (stdout not a terminal); 0 = about 20 per run
    distributed: bool = False  # call jax.distributed.initialize() (multi-host)

    def __post_init__(self):
        for name in ("depth", "d_model", "batch_size", "epochs", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}.")
        for name in ("lr", "ssm_lr_factor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)}.")
        if not 0.0 <= self.warmup_frac < 1.0:
            raise ValueError(f"warmup_frac must be in [0, 1); got {self.warmup_frac}.")
        if self.lr_min < 0 or self.lr_min > self.lr:
            raise ValueError(f"need 0 <= lr_min <= lr; got lr_min={self.lr_min}, lr={self.lr}.")
        if self.state_size < 0:
            raise ValueError(f"state_size must be >= 0 (0 = the layer's default); got {self.state_size}.")
        if self.weight_decay < 0 or self.grad_clip < 0 or self.max_steps < 0 or self.checkpoint_every < 0 \
                or self.print_every < 0:
            raise ValueError("weight_decay, grad_clip, max_steps, checkpoint_every and print_every must be >= 0.")
        parse_options("layer_options", self.layer_options)
        parse_options("task_options", self.task_options)


RUN_ONLY_FIELDS = ("max_steps", "eval_every", "checkpoint_every", "log_every", "progress", "print_every",
                   "distributed")


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_options(name: str, text: str) -> dict:
    """'a=1;b=0.5;c=zoh' -> {'a': 1, 'b': 0.5, 'c': 'zoh'} (numbers and booleans parsed)."""
    out = {}
    for item in filter(None, (p.strip() for p in text.split(";"))):
        if "=" not in item:
            raise ValueError(f"{name} expects 'key=value;key=value'; got item {item!r}.")
        key, value = item.split("=", 1)
        out[key.strip()] = _number(value.strip())
    return out


def config_dict(cfg: TrainConfig) -> dict:
    """The config as a JSON-able dict (what `config.json` holds)."""
    return dataclasses.asdict(cfg)


def config_hash(cfg: TrainConfig) -> str:
    """sha256 over every field that changes the numbers (all but `RUN_ONLY_FIELDS`), first 16 hex digits."""
    fields = {k: v for k, v in config_dict(cfg).items() if k not in RUN_ONLY_FIELDS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def config_from_dict(data: dict) -> TrainConfig:
    """Rebuild a config from `config_dict` output, refusing unknown keys."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown TrainConfig keys {unknown}; valid keys: {sorted(names)}.")
    return TrainConfig(**data)


def with_overrides(cfg: TrainConfig, overrides: dict[str, str]) -> TrainConfig:
    """A copy of `cfg` with `key=value` string overrides parsed to the fields' types (CLI `--set`)."""
    fields = {f.name: f.type for f in dataclasses.fields(cfg)}
    changes = {}
    for key, text in overrides.items():
        if key not in fields:
            raise ValueError(f"unknown config key {key!r}; valid keys: {', '.join(fields)}.")
        typ = str(fields[key]).replace("<class '", "").replace("'>", "")
        try:
            if typ == "bool":
                if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError("expected true/false")
                changes[key] = text.lower() in ("1", "true", "yes", "on")
            else:
                changes[key] = {"int": int, "float": float}.get(typ, str)(text)
        except ValueError as err:
            raise ValueError(f"--set {key}={text!r}: cannot parse as {typ} ({err}).") from err
    return dataclasses.replace(cfg, **changes)


PresetFactory = Callable[[str], TrainConfig]
_PRESETS: dict[tuple[str, str], PresetFactory] = {}


def register_preset(task: str, name: str, factory: PresetFactory) -> PresetFactory:
    """Register `factory(model) -> TrainConfig` as preset `name` of `task` (used by `ssmlab train --config`)."""
    key = (task, name)
    if key in _PRESETS and _PRESETS[key] != factory:  # re-registering an equal factory is harmless
        raise ValueError(f"preset {name!r} for task {task!r} is already registered.")
    _PRESETS[key] = factory
    return factory


def preset_names(task: str) -> list[str]:
    """Names of the presets registered for `task`."""
    return sorted(n for t, n in _PRESETS if t == task)


def preset(task: str, name: str, model: str) -> TrainConfig:
    """The preset `name` for `task` and sequence layer `model`."""
    if (task, name) not in _PRESETS:
        raise ValueError(f"no preset {name!r} for task {task!r}; available: {preset_names(task) or 'none'} "
                         "(register one with ssmlab.train.config.register_preset).")
    cfg = _PRESETS[(task, name)](model)
    if cfg.task != task or cfg.model != model:
        cfg = dataclasses.replace(cfg, task=task, model=model)
    return cfg
