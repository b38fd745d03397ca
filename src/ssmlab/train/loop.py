"""Train and evaluate a `SequenceModel` on a registered task, with checkpoints and resumption.

Run layout (`out_dir`): `config.json` (the frozen config, its hash, versions and devices, the
task's `model_spec` and the step counts, so `ssmlab.load_run` rebuilds the model without data),
`metrics.jsonl` (step records: loss, the objective's batch metrics, learning rate, throughput; epoch
records: train loss and the objective's validation metrics; one test record), `checkpoint.npz`
(latest, atomic), `best.npz` (best validation score) and `summary.json`.

Objectives: the task names its objective (`ssmlab.train.objectives`: classification, next-token
cross-entropy, per-step regression); the loop calls its `loss`, `sums` and `metrics` and selects
`best.npz` by its `score_metric`, whatever the kind.

Model selection: every evaluation uses the validation split (the task's own, or a seeded 10 %
hold-out of train, `with_validation`); best.npz is the best of them. The test set is read once,
at the planned end of the run (last step or `max_steps`), with the model of best.npz; its result
goes into the test record, the summary and the checkpoint header (so resuming a finished run does
not read it again).

Padded data: batches with a "mask" (datasets built with `lengths`) pass it to the model in the
train and eval steps, so pooling ignores padded steps; batches without one run unmasked.

Determinism: the batch order depends only on (seed, epoch) and the dropout key of step s is
fold_in(key(seed), s), so the run position is (step, epoch, batch index) and a run resumed
from a checkpoint repeats exactly the steps an uninterrupted run would take.

Resume: the checkpoint also carries what the records need -- the running sum of the epoch's
training losses (the epoch mean covers steps before and after a kill), the epoch history (an
epoch boundary checkpoint whose history lacks that epoch means its evaluation is pending and is
run first on resume) and the training wall time so far. The whole checkpoint is validated before
any file of the run is touched; then stale temporary files of killed atomic writes are removed
and metrics.jsonl is rewound to the checkpoint's position. A resumed run writes the same files as
an uninterrupted one except for wall-clock fields and one "resumed" record per resume.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.random as jr
import numpy as np
import optax

from .._atomic import atomic_write_text, remove_stale_temps
from .._killpoint import kill_point
from ..data.dataset import ArrayDataset, Task, make_task, with_validation
from ..environment import environment
from ..models.sequence_model import apply_batch, make_model
from . import parallel
from .checkpoint import check_run_header, load_checkpoint, read_header, save_checkpoint
from .config import TrainConfig, config_dict, config_from_dict, config_hash, is_legacy_config, legacy_config_hash
from .metrics import MetricsLog
from .objectives import objective_for, score
from .optim import count_parameters, lr_schedule, make_optimizer, trainable
from .progress_bar import TrainProgress
from .step import eval_sums, loss_and_grad


class TrainingDiverged(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


@dataclasses.dataclass
class TrainResult:
    """Final model and norm state, per-epoch history and summary numbers of a run."""

    model: Any
    state: Any
    history: list[dict]
    summary: dict
    out_dir: Path
    finished: bool


MODEL_SPEC_KEYS = ("seq_len", "input_kind", "input_dim", "vocab_size", "num_classes", "pooling", "output_dim",
                   "objective")


def model_spec(task: Task) -> dict:
    """What the model's architecture needs from `task` (saved in config.json so a run loads without its data)."""
    return {k: getattr(task, k) for k in MODEL_SPEC_KEYS}


def build_model(cfg: TrainConfig, task: Task | dict, key) -> tuple[Any, Any]:
    """(model, norm state) for `task` (or its `model_spec`) with the architecture in `cfg`."""
    spec = model_spec(task) if isinstance(task, Task) else task
    pooling = spec["pooling"] if cfg.pooling == "task" else cfg.pooling
    d_out = spec.get("output_dim", 0) or (spec["num_classes"] if spec["num_classes"] > 0 else spec["input_dim"])
    return make_model(layer=cfg.layer, d_model=cfg.d_model, depth=cfg.depth, d_out=d_out, seq_len=spec["seq_len"],
                      input_kind=spec["input_kind"], d_in=spec["input_dim"], vocab_size=spec["vocab_size"],
                      norm=cfg.norm, prenorm=cfg.prenorm, mixing=cfg.mixing, dropout=cfg.dropout, pooling=pooling,
                      key=key)


def init_optimizer_state(cfg: TrainConfig, model: Any, total_steps: int) -> tuple[optax.GradientTransformation, Any]:
    """(optimiser, its initial state) for `model`: the run's, and the template its checkpoints load into."""
    optimizer = make_optimizer(cfg, model, total_steps)
    return optimizer, optimizer.init(eqx.filter(model, trainable(model)))


def _make_steps(optimizer: optax.GradientTransformation, objective):
    @eqx.filter_jit
    def train_step(model, state, opt_state, x, y, key, mask=None):
        diff, static = eqx.partition(model, trainable(model))
        (loss, (state, metrics)), grads = loss_and_grad(objective, apply_batch, diff, static, state, x, y, key=key,
                                                        mask=mask)
        updates, opt_state = optimizer.update(grads, opt_state, diff)
        model = eqx.combine(optax.apply_updates(diff, updates), static)
        return model, state, opt_state, loss, metrics

    @eqx.filter_jit
    def eval_step(model, state, x, y, w, mask=None):
        return eval_sums(objective, apply_batch, model, state, x, y, w, mask)

    return train_step, eval_step


_STEPS: collections.OrderedDict = collections.OrderedDict()  # (config, steps, structure, objective) -> steps


def _optimizer_and_steps(cfg: TrainConfig, model, total_steps: int, objective):
    """The optimiser and its jitted steps; runs of the same config and model structure share them.

    JAX caches compiled code per function object, so a new closure per run would compile again in
    every `train` call of a process (resume, sweeps, tests). The optimiser is a function of the config,
    the step count and the model's structure only, which with the objective is the key here; a structure
    that cannot be
    hashed or compared (a static field holding an array) is simply not cached.
    """
    try:
        key = (config_hash(cfg), total_steps, jax.tree_util.tree_structure(model), objective)
        hit = _STEPS.get(key)
    except (TypeError, ValueError):
        key, hit = None, None
    if hit is not None:
        _STEPS.move_to_end(key)
        return hit
    optimizer = make_optimizer(cfg, model, total_steps)
    out = (optimizer, *_make_steps(optimizer, objective))
    if key is not None:
        _STEPS[key] = out
        while len(_STEPS) > 8:
            _STEPS.popitem(last=False)
    return out


def evaluate(eval_step, model, state, data: ArrayDataset, batch_size: int, mesh, objective) -> dict[str, float]:
    """The objective's metrics over a whole dataset (last batch padded with zero-weight examples).

    Padding examples are zeros with an all-True mask (when the data has masks), so their pooled
    features stay finite and their zero weight removes them from the sums.
    """
    shard, num_shards = parallel.local_shard()
    totals = None
    for batch in data.batches(batch_size, shuffle=False, drop_last=False, shard_index=shard, num_shards=num_shards):
        n = len(batch["y"])
        pad = batch_size - n
        w = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
        padded = {k: np.concatenate([v, (np.ones if k == "mask" else np.zeros)((pad,) + v.shape[1:], v.dtype)])
                  for k, v in batch.items()}
        padded["w"] = w
        g = parallel.global_batch(padded, mesh)
        sums = np.asarray(eval_step(model, state, g["x"], g["y"], g["w"], g.get("mask")), dtype=np.float64)
        totals = sums if totals is None else totals + sums
    if totals is None:
        raise ValueError("cannot evaluate on an empty dataset; give the task a non-empty test/validation split.")
    return objective.metrics(totals)


def _write_config(out_dir: Path, cfg: TrainConfig, run: _Run) -> None:
    if jax.process_index() != 0 or run.legacy:  # one writer per run directory; a legacy run keeps its file
        return
    record = {"config": config_dict(cfg), "config_hash": config_hash(cfg), "environment": environment(),
              "model_spec": model_spec(run.task), "steps_per_epoch": run.steps_per_epoch,
              "total_steps": run.total_steps}
    atomic_write_text(out_dir / "config.json", json.dumps(record, indent=2, sort_keys=True))


def _batch_size(cfg: TrainConfig, mesh) -> int:
    parallel.check_batch_size(cfg.batch_size, mesh)
    _, num_shards = parallel.local_shard()
    return cfg.batch_size // num_shards


RUN_FILES = ("checkpoint.npz", "best.npz", "metrics.jsonl", "config.json", "summary.json")


class _Run:
    """Mutable state of one training run (model, optimiser, position, history)."""

    def __init__(self, cfg: TrainConfig, out_dir: Path, task: Task, resume: bool):
        self.cfg, self.out_dir, self.task = cfg, out_dir, task
        self.objective = objective_for(task)
        self.mesh = parallel.data_mesh()
        self.local_bs = _batch_size(cfg, self.mesh)
        shard, num_shards = parallel.local_shard()
        self.steps_per_epoch = task.train.num_batches(self.local_bs, num_shards=num_shards)
        if self.steps_per_epoch < 1:
            raise ValueError(f"batch_size={cfg.batch_size} is larger than the training set ({len(task.train)}); "
                             "lower --set batch_size.")
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.model, self.state = build_model(cfg, task, jr.key(cfg.seed))
        self.optimizer, self.train_step, self.eval_step = _optimizer_and_steps(cfg, self.model, self.total_steps,
                                                                               self.objective)
        self.opt_state = self.optimizer.init(eqx.filter(self.model, trainable(self.model)))
        self.step, self.best, self.history = 0, -math.inf, []
        self.best_tree: tuple | None = None  # (model, state) of best.npz, when chosen by this process
        self.test: dict | None = None  # the final test evaluation, once the run has finished
        self.loss_sum = 0.0  # sum of this epoch's training losses so far
        self.wall_before = self.wall_saved = 0.0  # training seconds before this process; at the last save
        self.started = time.perf_counter()
        self.hash = config_hash(cfg)
        self.log = MetricsLog(out_dir / "metrics.jsonl")
        ckpt = out_dir / "checkpoint.npz"
        self.legacy = resume and self._legacy_hash(ckpt)
        if resume:
            (self.model, self.state, self.opt_state), header = load_checkpoint(
                ckpt, (self.model, self.state, self.opt_state), config_hash=self.hash)
            check_run_header(header, ckpt, steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps,
                             seed=cfg.seed, key_data=self._key_data(),
                             score_metric=self.objective.score_metric, higher_is_better=self.objective.higher_is_better)
            self.step, self.best, self.history = header["step"], float(header["best"]), header["history"]
            self.test = header.get("test")
            self.loss_sum, self.wall_before = float(header["train_loss_sum"]), float(header["wall_s"])
            self.wall_saved = self.wall_before
            self._remove_stale_temps()
            # records logged after the checkpoint are of steps (or an evaluation) that will run again
            dropped = self.log.rewind(self.step, keep_epoch_end=not self.epoch_end_pending)
            self.log.write({"event": "resumed", "step": self.step, "dropped_records": dropped})
        elif ckpt.exists():
            raise ValueError(f"{out_dir} already holds a checkpoint; pass --resume to continue it or choose "
                             "another --out.")
        elif jax.process_index() == 0:
            self._remove_stale_temps()
            self.log.path.unlink(missing_ok=True)
        self.model, self.state, self.opt_state = parallel.replicate((self.model, self.state, self.opt_state),
                                                                    self.mesh)

    def _legacy_hash(self, ckpt: Path) -> bool:
        """Resuming a run written before typed layer specs: its files carry the legacy hash of its config.json.

        When config.json holds a legacy config that migrates to this config (same hash) and the checkpoint
        carries that config's legacy hash, the run goes on under the legacy hash (its config.json is kept as
        it is, so `load_run` migrates it again); anything else is checked against today's hash as usual."""
        try:
            data = json.loads((self.out_dir / "config.json").read_text())["config"]
            header = read_header(ckpt)
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if not (isinstance(data, dict) and is_legacy_config(data)):
            return False
        try:
            same = config_hash(config_from_dict(data)) == self.hash
        except (TypeError, ValueError):
            return False
        if same and header.get("config_hash") == legacy_config_hash(data):
            self.hash = legacy_config_hash(data)
            return True
        return False

    def _remove_stale_temps(self) -> None:
        if jax.process_index() == 0:  # process 0 writes checkpoints, metrics, summary; others would race it
            remove_stale_temps(self.out_dir, RUN_FILES)

    def _key_data(self) -> list:
        return np.asarray(jr.key_data(jr.key(self.cfg.seed))).tolist()

    @property
    def epoch_end_pending(self) -> bool:
        """True at an epoch boundary whose epoch record (and evaluation) is not written yet."""
        return self.step > 0 and self.step % self.steps_per_epoch == 0 and \
            len(self.history) < self.step // self.steps_per_epoch

    def elapsed(self) -> float:
        """Training wall time of the run: the earlier processes' (up to their last checkpoint) plus this one's."""
        return self.wall_before + time.perf_counter() - self.started

    def save(self, name: str = "checkpoint.npz") -> None:
        """Atomically save the full run state (rank 0 only)."""
        self.wall_saved = self.elapsed()
        if jax.process_index() != 0:
            return
        header = {"config_hash": self.hash, "step": self.step, "epoch": self.step // self.steps_per_epoch,
                  "batch_index": self.step % self.steps_per_epoch, "seed": self.cfg.seed,
                  "rng_key_data": self._key_data(), "best": self.best, "history": self.history,
                  "train_loss_sum": self.loss_sum, "wall_s": self.wall_saved}
        if self.test is not None:
            header["test"] = self.test
        save_checkpoint(self.out_dir / name, (self.model, self.state, self.opt_state), header=header)
        kill_point(f"saved:{name}@{self.step}")


def _epoch_batches(run: _Run, epoch: int, skip: int):
    shard, num_shards = parallel.local_shard()
    it = run.task.train.batches(run.local_bs, seed=run.cfg.seed, epoch=epoch, shard_index=shard,
                                num_shards=num_shards)
    for i, batch in enumerate(it):
        if i >= skip:
            yield batch


def _check_finite(loss: float, run: _Run) -> None:
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"training loss became {loss} at step {run.step} (epoch {run.step // run.steps_per_epoch}); stopped. "
            f"Lower the learning rate (lr={run.cfg.lr}), enable/raise gradient clipping (grad_clip="
            f"{run.cfg.grad_clip}), or check the inputs. The last good checkpoint is in {run.out_dir}.")


def _end_epoch(run: _Run, epoch: int, bar: TrainProgress | None = None) -> None:
    record = {"event": "epoch", "epoch": epoch + 1, "step": run.step,
              "train_loss": run.loss_sum / run.steps_per_epoch, "elapsed_s": run.elapsed()}
    if (epoch + 1) % run.cfg.eval_every == 0 or epoch + 1 == run.cfg.epochs:
        res = evaluate(run.eval_step, run.model, run.state, run.task.validation, run.local_bs, run.mesh,
                       run.objective)
        record.update({f"val_{k}": v for k, v in res.items()})
        value = score(run.objective, res)
        if value > run.best:
            run.best, run.best_tree = value, (run.model, run.state)
            run.save("best.npz")
    run.history.append(record)
    run.log.write(record)
    if bar is not None:
        bar.epoch(record, run.cfg.epochs)


def _best(run: _Run) -> float | None:
    """The best validation value of the score metric (the score un-negated), None before any evaluation."""
    if not math.isfinite(run.best):
        return None
    return run.best if run.objective.higher_is_better else -run.best


def _final_test(run: _Run) -> None:
    """Evaluate the best-on-validation model on the test set, once, at the planned end of the run.

    The end is the last step, or `max_steps`; a run resumed past a `max_steps` end is tested again at
    its new end (a callback stop or a kill is an interruption: no test)."""
    if run.best_tree is None:  # chosen before a resume: the model is in best.npz
        (model, state, _), _ = load_checkpoint(run.out_dir / "best.npz", (run.model, run.state, run.opt_state),
                                                    config_hash=run.hash)
        run.best_tree = parallel.replicate((model, state), run.mesh)
    res = evaluate(run.eval_step, *run.best_tree, run.task.test, run.local_bs, run.mesh, run.objective)
    run.test = {"step": run.step} | {f"test_{k}": v for k, v in res.items()}
    run.log.write({"event": "test", "model": "best.npz", f"best_val_{run.objective.score_metric}": _best(run)}
                  | run.test)
    run.save()  # the checkpoint records the test result: a resume of the finished run does not read test again


def train(cfg: TrainConfig, out_dir: Path | str, *, task: Task | None = None, resume: bool = False,
          callback: Callable[[int, float], bool | None] | None = None) -> TrainResult:
    """Train `cfg.model` on `cfg.task` into `out_dir`; `callback(step, loss)` returning True stops the run.

    Raises TrainingDiverged on a non-finite loss, ValueError on a bad config or checkpoint.
    """
    parallel.initialize_distributed(cfg.distributed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    task = task if task is not None else make_task(cfg.task, **cfg.task_options)
    task = with_validation(task)  # model selection on a hold-out of train when the data has no validation split
    run = _Run(cfg, out_dir, task, resume)
    _write_config(out_dir, cfg, run)
    base_key = jr.key(cfg.seed + 1)
    schedule = lr_schedule(cfg, run.total_steps)
    run.started = time.perf_counter()
    stop = False
    if run.epoch_end_pending:  # killed after the checkpoint of an epoch's last step, before its evaluation
        _end_epoch(run, run.step // run.steps_per_epoch - 1)
        run.save()
    with TrainProgress(total=run.total_steps, start=run.step, enabled=cfg.progress and jax.process_index() == 0,
                       steps_per_epoch=run.steps_per_epoch, print_every=cfg.print_every,
                       elapsed_before=run.wall_before) as bar:
        for epoch in range(run.step // run.steps_per_epoch, cfg.epochs):
            skip = run.step - epoch * run.steps_per_epoch
            if skip == 0:
                run.loss_sum = 0.0
            for batch in _epoch_batches(run, epoch, skip):
                g = parallel.global_batch(batch, run.mesh)
                run.model, run.state, run.opt_state, loss, metrics = run.train_step(
                    run.model, run.state, run.opt_state, g["x"], g["y"], jr.fold_in(base_key, run.step), g.get("mask"))
                loss = float(loss)
                run.step += 1
                _check_finite(loss, run)
                run.loss_sum += loss
                bar.update(loss=loss, examples=cfg.batch_size, accuracy=metrics.get("accuracy"))  # read on print steps
                if run.step % cfg.log_every == 0:
                    metrics = {k: float(v) for k, v in metrics.items()}  # to the host only when logged
                    run.log.write({"event": "step", "step": run.step, "loss": loss} | metrics
                                  | {"lr": float(schedule(run.step - 1)), "examples_per_s": bar.throughput})
                stop = bool(callback(run.step, loss)) if callback is not None else False
                stop = stop or (cfg.max_steps > 0 and run.step >= cfg.max_steps)
                if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0:
                    run.save()
                if stop and run.step % run.steps_per_epoch:
                    break
            if run.step % run.steps_per_epoch == 0:
                _end_epoch(run, epoch, bar)
            run.save()
            if stop:
                break
    finished = run.step >= run.total_steps
    planned_end = finished or (cfg.max_steps > 0 and run.step >= cfg.max_steps)
    if planned_end and (run.test is None or run.test["step"] != run.step) and math.isfinite(run.best):
        _final_test(run)
    summary = {"steps": run.step, "total_steps": run.total_steps, "finished": finished,
               f"best_{run.objective.score_metric}": _best(run), "objective": run.objective.name,
               "parameters": count_parameters(run.model), "config_hash": run.hash,
               "wall_s": run.wall_saved}  # as of the last checkpoint: a resume with nothing to do keeps it
    if run.history:
        summary.update({k: v for k, v in run.history[-1].items() if k.startswith(("train_", "val_"))})
    if run.test is not None and run.test["step"] == run.step:
        summary.update({k: v for k, v in run.test.items() if k != "step"})
    if jax.process_index() == 0:
        atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, sort_keys=True))
    return TrainResult(model=run.model, state=run.state, history=run.history, summary=summary, out_dir=out_dir,
                       finished=finished)


def checkpoint_step(out_dir: Path) -> int:
    """Step stored in `out_dir/checkpoint.npz` (ValueError if missing or corrupt)."""
    return int(read_header(Path(out_dir) / "checkpoint.npz")["step"])
