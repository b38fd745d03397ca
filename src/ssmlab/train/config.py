"""Training configuration: one frozen dataclass, saved with every run, plus per-task presets.

`TrainConfig` holds everything that determines a run's numbers. The sequence layer is a typed spec
(`layer: LayerSpec`, e.g. `STUSpec(num_filters=24)`, `LRUSpec(state_size=32)`; `ssmlab.layers.spec_for(name)`
gives a layer's spec class) and the task's factory options are a typed mapping (`task_options`, checked
against the task factory's keyword signature). `ssmlab train --set` edits any of them through the one
override function, `ssmlab._overrides.apply_overrides`: `--set lr=1e-3`, `--set layer.num_filters=24`,
`--set layer=s4d` (that layer with its defaults), `--set task.seq_len=128` (= `task_options.seq_len`).

`config_hash` covers every field except `RUN_ONLY_FIELDS` (how far to run, logging, distribution), so a
run stopped with `max_steps` can be resumed with a different `max_steps` and still match its checkpoint;
of the layer spec it covers the name and the fields that differ from the spec's defaults (so a layer that
gains an option keeps the hashes of earlier runs). `config_dict` / `config_from_dict` are the JSON form
(config.json). Runs written before the typed specs (`model`, `state_size`, `layer_options` and
`task_options` strings) still load: `config_from_dict` migrates them, and `legacy_config_hash` is the hash
their files carry (`stored_config_hash` picks the right one for a config.json record).

Presets: `register_preset(task, name, factory)` with `factory(model: str) -> TrainConfig`;
`preset(task, name, model)` builds one, `preset_names(task)` lists them. The digits presets
("quick", "paper") are registered by `ssmlab.train.presets`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from .._overrides import FrozenOptions, coerce, keyword_parameters, type_hints
from ..data.dataset import task_factory, task_names
from ..layers import LayerSpec, LRUSpec, layer_spec, spec_for, spec_from_dict, spec_to_dict


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Model, optimiser, schedule and data settings of one training run."""

    OVERRIDE_ALIASES: ClassVar[dict[str, str]] = {"task": "task_options"}  # --set task.seq_len=...

    task: str = "digits"
    layer: LayerSpec = LRUSpec()  # the sequence layer and its options (--model NAME: that layer's defaults)
    depth: int = 2
    d_model: int = 64
    norm: str = "layer"
    prenorm: bool = True
    mixing: str = "glu"
    dropout: float = 0.0
    pooling: str = "task"  # "task" = the task's own pooling
    task_options: Mapping[str, Any] = FrozenOptions()  # the task factory's options (--set task.<option>=...)
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
        if not isinstance(self.layer, LayerSpec):
            raise TypeError(f"layer must be a layer spec such as ssmlab.layers.LRUSpec() (or "
                            f"ssmlab.layers.spec_for(name)(...)); got {self.layer!r}.")
        object.__setattr__(self, "task_options", _task_options(self.task, self.task_options))
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
        if self.weight_decay < 0 or self.grad_clip < 0 or self.max_steps < 0 or self.checkpoint_every < 0 \
                or self.print_every < 0:
            raise ValueError("weight_decay, grad_clip, max_steps, checkpoint_every and print_every must be >= 0.")

    @property
    def model(self) -> str:
        """The sequence layer's registered name (`layer.name`)."""
        return self.layer.name

    def option_types(self, field: str) -> dict[str, Any] | None:
        """Annotations of the options a mapping field takes (`task_options`: the task factory's keywords)."""
        return task_option_types(self.task) if field == "task_options" else None


RUN_ONLY_FIELDS = ("max_steps", "eval_every", "checkpoint_every", "log_every", "progress", "print_every",
                   "distributed")


def task_option_types(task: str) -> dict[str, Any] | None:
    """{option: annotation} of the keyword parameters of task `task`'s factory (None for an unregistered task)."""
    if task not in task_names():
        return None
    return {p.name: tp for p, tp in keyword_parameters(task_factory(task))}


def _task_options(task: str, options: Mapping[str, Any]) -> FrozenOptions:
    """`options` checked against task `task`'s factory and typed by its annotations (unregistered: as given)."""
    if not isinstance(options, Mapping):
        raise TypeError(f"task_options must be a mapping of the task factory's options, e.g. {{'seq_len': 64}}; "
                        f"got {options!r}.")
    types_ = task_option_types(task)
    if types_ is None:
        return FrozenOptions(options)
    unknown = sorted(set(options) - set(types_))
    if unknown:
        raise ValueError(f"unknown task_options {unknown} for task {task!r}; valid options: "
                         f"{', '.join(types_) or '(none)'}.")
    return FrozenOptions({k: coerce(v, types_[k], f"task.{k}") for k, v in options.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def config_dict(cfg: TrainConfig) -> dict:
    """The config as a JSON-able dict (what `config.json` holds): the layer as `{"name": ..., field: value}`."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        out[f.name] = spec_to_dict(value) if isinstance(value, LayerSpec) else _plain(value)
    return out


def _canonical_layer(spec: LayerSpec) -> dict:
    """The spec's name and the fields that differ from its defaults (what the hash covers)."""
    default = spec_to_dict(type(spec)())
    return {k: v for k, v in spec_to_dict(spec).items() if k == "name" or v != default[k]}


def config_hash(cfg: TrainConfig) -> str:
    """sha256 over every field that changes the numbers (all but `RUN_ONLY_FIELDS`), first 16 hex digits."""
    fields = {k: v for k, v in config_dict(cfg).items() if k not in RUN_ONLY_FIELDS}
    fields["layer"] = _canonical_layer(cfg.layer)
    return _sha(fields)


def _sha(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


# The fields of the config before typed specs, with their defaults then (the other fields are unchanged).
_LEGACY_FIELDS = {"model": "lru", "state_size": 0, "layer_options": "", "task_options": ""}


def is_legacy_config(data: Mapping[str, Any]) -> bool:
    """Whether `data` (config.json's "config") was written before typed specs (no "layer", a "model")."""
    return "layer" not in data and any(k in data for k in _LEGACY_FIELDS)


def _legacy_options(name: str, text: str) -> dict:
    """Read a legacy 'a=1;b=0.5;c=zoh' option string (only for migrating old config.json files)."""
    if not isinstance(text, str):
        raise ValueError(f"{name} of a legacy config must be a 'key=value;key=value' string; got {text!r}.")
    out = {}
    for item in filter(None, (p.strip() for p in text.split(";"))):
        if "=" not in item:
            raise ValueError(f"{name} of a legacy config expects 'key=value;key=value'; got item {item!r}.")
        key, value = item.split("=", 1)
        out[key.strip()] = _legacy_value(value.strip())
    return out


def _legacy_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.lower() == "true" if text.lower() in ("true", "false") else text


def legacy_config_hash(data: Mapping[str, Any]) -> str:
    """The hash a legacy run's files carry: the formula of that version over its fields (defaults filled in)."""
    names = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("layer", "task_options")]
    defaults = {f.name: _plain(f.default) for f in dataclasses.fields(TrainConfig) if f.name in names}
    fields = {**defaults, **_LEGACY_FIELDS, **data}
    return _sha({k: v for k, v in fields.items() if k not in RUN_ONLY_FIELDS})


def _migrate(data: Mapping[str, Any]) -> dict:
    """A legacy config dict in today's form: `model` + `state_size` + `layer_options` -> `layer` spec."""
    data = dict(data)
    model = data.pop("model", _LEGACY_FIELDS["model"])
    state_size = data.pop("state_size", 0)
    options = _legacy_options("layer_options", data.pop("layer_options", ""))
    if isinstance(state_size, int) and state_size > 0:
        options.setdefault("state_size", state_size)
    try:
        data["layer"] = layer_spec(model, **options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"cannot migrate the legacy layer settings (model={model!r}, state_size={state_size}, "
                         f"layer_options): {err}") from err
    data["task_options"] = _legacy_options("task_options", data.get("task_options", ""))
    return data


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Rebuild a config from `config_dict` output (or a legacy one, migrated), refusing unknown keys."""
    if not isinstance(data, Mapping):
        raise TypeError(f"a config is a mapping of TrainConfig fields; got {type(data).__name__}.")
    data = _migrate(data) if is_legacy_config(data) else dict(data)
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"unknown TrainConfig keys {unknown}; valid keys: {sorted(names)}.")
    hints = type_hints(TrainConfig)
    fields = {}
    for key, value in data.items():
        if key == "layer":
            fields[key] = value if isinstance(value, LayerSpec) else spec_from_dict(value)
        elif key == "task_options":
            fields[key] = value
        else:
            fields[key] = coerce(value, hints.get(key, Any), key)
    return TrainConfig(**fields)


def stored_config_hash(data: Mapping[str, Any]) -> str:
    """The hash the files of the run whose config.json "config" is `data` carry (legacy or today's formula)."""
    return legacy_config_hash(data) if is_legacy_config(data) else config_hash(config_from_dict(data))


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
    if cfg.task != task:
        cfg = dataclasses.replace(cfg, task=task)
    if cfg.layer.name != model:  # a factory that ignored `model`: that layer with its defaults
        cfg = dataclasses.replace(cfg, layer=spec_for(model)())
    return cfg
