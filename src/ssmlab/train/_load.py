"""Load the trained model of a run directory (private; one place, to be replaced by a public loader).

The run's `config.json` rebuilds the config and its task (for the model's shapes), `build_model` gives
the template, and `best.npz` (else `checkpoint.npz`) fills it, checked against the config hash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax.random as jr

from ..data.dataset import Task, make_task
from .checkpoint import load_checkpoint
from .config import TrainConfig, config_from_dict, stored_config_hash
from .loop import build_model, init_optimizer_state


def _load_model(run_dir: Path | str, check: Callable[[TrainConfig, Task], None] | None = None,
                ) -> tuple[eqx.Module, eqx.nn.State, TrainConfig, Task]:
    """(model, norm state, config, task) of the run in `run_dir`; ValueError naming what is missing or wrong.

    `check(cfg, task)` (raising ValueError) runs before the model is built or the checkpoint read."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{run_dir} is not a training run (no config.json); pass the --out folder of `ssmlab train`.")
    try:
        data = json.loads(config_path.read_text())["config"]
        cfg = config_from_dict(data)
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{config_path} is not a run config ({type(err).__name__}: {err}).") from err
    task = make_task(cfg.task, **cfg.task_options)
    if check is not None:
        check(cfg, task)
    ckpt = next((p for p in (run_dir / "best.npz", run_dir / "checkpoint.npz") if p.is_file()), None)
    if ckpt is None:
        raise ValueError(f"{run_dir} holds no best.npz or checkpoint.npz; train the run first.")
    model, state = build_model(cfg, task, jr.key(cfg.seed))
    total = cfg.epochs * max(task.train.num_batches(cfg.batch_size), 1)
    _, opt_state = init_optimizer_state(cfg, model, total)
    (model, state, _), _ = load_checkpoint(ckpt, (model, state, opt_state), config_hash=stored_config_hash(data))
    return model, state, cfg, task
