"""Load a trained model back from a run directory written by `ssmlab.train` / `ssmlab train`.

`load_run(run_dir, which="best")` reads `config.json` (the config, its hash and the task's
`model_spec`), rebuilds the architecture and the optimiser-state template the run used, and loads
`best.npz` (best evaluation) or `checkpoint.npz` (`which="last"`) with the checks of
`ssmlab.train.checkpoint`: config hash, number/shape/dtype of every array, finite values, and the
run header's fields. Nothing of the task's data is read.
"""

from __future__ import annotations

import json
import math
import types
from pathlib import Path
from typing import Any, NamedTuple

import jax.random as jr
import numpy as np

from ..data.dataset import make_task
from .checkpoint import check_run_header, load_checkpoint
from .config import TrainConfig, config_from_dict, stored_config_hash
from .loop import MODEL_SPEC_KEYS, build_model, init_optimizer_state, model_spec
from .objectives import objective_for

FILES = {"best": "best.npz", "last": "checkpoint.npz"}


class LoadedRun(NamedTuple):
    """A trained model, its norm state (an empty `eqx.nn.State` for LayerNorm models) and its config."""

    model: Any
    state: Any
    config: TrainConfig


def load_run(run_dir: Path | str, which: str = "best") -> LoadedRun:
    """(model, norm state, config) of the run in `run_dir`, from best.npz ("best") or checkpoint.npz ("last").

    Raises ValueError naming the file and the problem when the directory is not a run, a file is
    missing, corrupt or truncated, or the config/checkpoint pair does not match.

    >>> model, state, cfg = load_run("runs/digits-lru")  # doctest: +SKIP
    >>> logits, _ = ssmlab.models.sequence_model.apply_batch(model, state, x, inference=True)  # doctest: +SKIP
    """
    if which not in FILES:
        raise ValueError(f"which must be one of {sorted(FILES)} (best.npz or checkpoint.npz); got {which!r}.")
    run_dir = Path(run_dir)
    record = _read_config(run_dir)
    cfg = _config(record, run_dir / "config.json")
    path = run_dir / FILES[which]
    if not path.is_file():
        hint = ("the run has not finished an evaluation yet; try which='last'" if which == "best"
                else "the run saved no checkpoint yet")
        raise ValueError(f"{path} does not exist: {hint}.")
    spec = _spec(record, cfg, run_dir)  # (builds the task when config.json predates model_spec: once)
    model, state = build_model(cfg, spec, jr.key(cfg.seed))
    total = record.get("total_steps")
    _, opt_state = init_optimizer_state(cfg, model, total if isinstance(total, int) and total >= 1 else 1)
    (model, state, _), header = load_checkpoint(path, (model, state, opt_state), config_hash=record["config_hash"])
    _check_header(header, path, record, cfg, which, spec)
    return LoadedRun(model, state, cfg)


def _read_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a training run: it has no config.json (point load_run at the --out "
                         "directory of `ssmlab train`).")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is corrupt or truncated ({type(err).__name__}: {err}).") from err
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict) or \
            not isinstance(record.get("config_hash"), str):
        raise ValueError(f"{path} is not an ssmlab run config (needs 'config' and 'config_hash').")
    return record


def _config(record: dict, path: Path) -> TrainConfig:
    try:
        cfg = config_from_dict(record["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: invalid config ({err}).") from err
    digest = stored_config_hash(record["config"])  # a legacy config.json: the hash formula of its version
    if digest != record["config_hash"]:
        raise ValueError(f"{path}: the config hashes to {digest}, not to the recorded "
                         f"{record['config_hash']}; the file was edited or damaged.")
    return cfg


def _spec(record: dict, cfg: TrainConfig, run_dir: Path) -> dict:
    spec = record.get("model_spec")
    if isinstance(spec, dict) and set(MODEL_SPEC_KEYS) <= set(spec):
        return spec
    try:  # a run written before config.json held the spec: the task itself tells
        return model_spec(make_task(cfg.task, **cfg.task_options))
    except Exception as err:
        raise ValueError(f"{run_dir}/config.json has no model_spec and task {cfg.task!r} cannot be built here "
                         f"({type(err).__name__}: {err}); retrain with this ssmlab version.") from err


def _check_header(header: dict, path: Path, record: dict, cfg: TrainConfig, which: str, spec: dict) -> None:
    objective = objective_for(types.SimpleNamespace(**spec))
    per_epoch, total = record.get("steps_per_epoch"), record.get("total_steps")
    if not (isinstance(per_epoch, int) and isinstance(total, int)):
        return  # older config.json: the hash, shape, dtype and finiteness checks above still ran
    key_data = np.asarray(jr.key_data(jr.key(cfg.seed))).tolist()
    if which == "last":
        check_run_header(header, path, steps_per_epoch=per_epoch, total_steps=total, seed=cfg.seed,
                         key_data=key_data, score_metric=objective.score_metric,
                         higher_is_better=objective.higher_is_better)
        return
    step, best = header.get("step"), header.get("best")  # best.npz: saved at an epoch end, before its record
    if type(step) is not int or not 0 < step <= total or step % per_epoch:
        raise ValueError(f"{path}: step {step!r} is not an epoch end of this run ({per_epoch} steps per epoch, "
                         f"{total} in all); the file is damaged or belongs to another run.")
    in_range = 0 <= best <= 1 if objective.higher_is_better else best <= 0  # an accuracy, or a negated loss
    if type(best) not in (int, float) or not (math.isfinite(best) and in_range):
        raise ValueError(f"{path}: best {objective.score_metric} score {best!r} is out of range; the file is damaged.")
