"""Resume after a kill writes the same run directory as an uninterrupted run; forged checkpoints are refused.

Files compared byte for byte after parsing: every array of checkpoint.npz and best.npz, their headers,
metrics.jsonl (every record), summary.json and config.json. Ignored, being wall-clock or resume
bookkeeping: `examples_per_s` of step records, `elapsed_s` of epoch records (also inside the headers'
history), `wall_s` of summary.json and of the headers, and the "resumed" records a resume appends.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import ssmlab
from ssmlab import _killpoint
from ssmlab.data.dataset import ArrayDataset, Task
from ssmlab.layers import LRUSpec
from ssmlab.train.config import TrainConfig
from ssmlab.train.loop import train

WALL_CLOCK = {"examples_per_s", "elapsed_s", "wall_s"}


class _Killed(BaseException):
    """Stands in for SIGKILL in-process: nothing after the kill point runs (no file is written)."""


def _toy(n=53, nt=16, L=8, seed=1) -> Task:  # 48 train after the 5-example validation hold-out
    rng = np.random.default_rng(seed)
    x, xt = rng.normal(size=(n, L, 1)).astype(np.float32), rng.normal(size=(nt, L, 1)).astype(np.float32)
    label = lambda a: (a[:, :, 0].sum(axis=1) > 0).astype(np.int32)  # noqa: E731
    return Task(name="toy", train=ArrayDataset(x, label(x)), test=ArrayDataset(xt, label(xt)), input_kind="real",
                num_classes=2, seq_len=L, input_dim=1)


def _cfg(**kw) -> TrainConfig:
    base = dict(task="toy", layer=LRUSpec(state_size=2), depth=1, d_model=4, batch_size=16, epochs=2, lr=1e-2,
                dropout=0.1, progress=False, log_every=1, checkpoint_every=1)
    return TrainConfig(**(base | kw))  # 3 steps per epoch


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in WALL_CLOCK}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        out = {k: (data[k].dtype.str, data[k].shape, data[k].tobytes()) for k in data.files if k != "header"}
        out["header"] = _strip(json.loads(bytes(data["header"]).decode()))
    return out


def _records(path: Path) -> list:
    return [_strip(json.loads(line)) for line in path.read_text().splitlines()
            if json.loads(line).get("event") != "resumed"]


def assert_same_run(got: Path, want: Path) -> None:
    """Every file of run directory `got` equals the one of `want` (up to the wall-clock fields)."""
    assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in want.iterdir())
    for name in ("checkpoint.npz", "best.npz"):
        a, b = _npz(got / name), _npz(want / name)
        assert a.keys() == b.keys() and a["header"] == b["header"], name
        assert all(a[k] == b[k] for k in a), f"{name}: arrays differ"
    assert _records(got / "metrics.jsonl") == _records(want / "metrics.jsonl")
    for name in ("summary.json", "config.json"):
        assert _strip(json.loads((got / name).read_text())) == _strip(json.loads((want / name).read_text())), name


def _raise_killed() -> None:
    raise _Killed(os.environ.get(_killpoint.ENV))


def _kill_at(monkeypatch, spec: str | None) -> None:
    monkeypatch.setattr(_killpoint, "_die", _raise_killed)
    monkeypatch.setattr(_killpoint, "_hits", Counter())
    if spec is None:
        monkeypatch.delenv(_killpoint.ENV, raising=False)
    else:
        monkeypatch.setenv(_killpoint.ENV, spec)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """An uninterrupted, finished run (2 epochs of 3 steps, a checkpoint every step)."""
    out = tmp_path_factory.mktemp("full") / "run"
    train(_cfg(), out, task=_toy())
    return out


def test_kill_after_the_last_checkpoint_resumes_to_the_uninterrupted_run(full_run, tmp_path, monkeypatch):
    """Killed right after the checkpoint of the last step, before the final evaluation (issue 21: the resumed run
    reported the previous epoch's accuracy and best.npz held the older model); a killed writer's temp file."""
    task, cfg, run = _toy(), _cfg(), tmp_path / "run"
    _kill_at(monkeypatch, "saved:checkpoint.npz@6:1")
    with pytest.raises(_Killed):
        train(cfg, run, task=task)
    stale, foreign = run / "best.npz.k1ll_d0n.tmp", run / "notes.tmp"  # a killed writer's temp file; not ours
    stale.write_bytes(b"torn")
    foreign.write_bytes(b"keep")
    _kill_at(monkeypatch, None)
    result = train(cfg, run, task=task, resume=True)
    assert not stale.exists() and foreign.read_bytes() == b"keep"
    foreign.unlink()
    assert result.finished and len(result.history) == 2
    assert_same_run(run, full_run)


def _forge(path: Path, *, header=None, leaf=None) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    head = json.loads(bytes(arrays["header"]).decode())
    if header is not None:
        head = header(head)
    arrays["header"] = np.frombuffer(json.dumps(head).encode(), np.uint8)
    if leaf is not None:
        arrays[leaf] = np.full_like(arrays[leaf], np.nan)
    np.savez(path, **arrays)


def _first_float_leaf(path: Path) -> str:
    with np.load(path, allow_pickle=False) as data:
        return next(k for k in data.files if k.startswith("leaf_") and data[k].dtype.kind == "f" and data[k].size)


FORGED = {
    "step -5": (dict(header=lambda h: h | {"step": -5}), "step -5 is outside"),
    "step 10**6": (dict(header=lambda h: h | {"step": 10**6}), "step 1000000 is outside"),
    "step a string": (dict(header=lambda h: h | {"step": "6"}), "'step' must be int"),
    "step a bool": (dict(header=lambda h: h | {"step": True}), "'step' must be int"),
    "epoch inconsistent": (dict(header=lambda h: h | {"epoch": 1}), "'epoch' is 1"),
    "history 5": (dict(header=lambda h: h | {"history": 5}), "'history' must be list"),
    "history too long": (dict(header=lambda h: h | {"history": h["history"] * 2}), "4 epoch records"),
    "history record bad accuracy": (
        dict(header=lambda h: h | {"history": [h["history"][0] | {"test_accuracy": "x"}] + h["history"][1:]}),
        "out of range"),
    "best not from history": (dict(header=lambda h: h | {"best": 0.99}), "best 0.99"),
    "loss sum missing": (dict(header=lambda h: {k: v for k, v in h.items() if k != "train_loss_sum"}),
                         "lacks header field 'train_loss_sum'"),
    "wall_s negative": (dict(header=lambda h: h | {"wall_s": -1.0}), "'wall_s' = -1.0"),
    "leaves not a list": (dict(header=lambda h: h | {"leaves": 5}), "'leaves' must be a list"),
    "header a list": (dict(header=lambda h: [h]), "not an ssmlab checkpoint"),
    "all-NaN leaf": (dict(leaf="first float"), "non-finite values"),
}


@pytest.fixture
def copied_run(full_run, tmp_path):
    """A copy of the finished run, with a stale temp file of its own (a refused resume must keep it too)."""
    run = tmp_path / "run"
    shutil.copytree(full_run, run)
    (run / "checkpoint.npz.abcd1234.tmp").write_bytes(b"left by a kill")
    return run


@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_checkpoint_refused_before_any_file_is_touched(case, copied_run):
    forge, message = FORGED[case]
    if forge.get("leaf") == "first float":
        forge = dict(leaf=_first_float_leaf(copied_run / "checkpoint.npz"))
    _forge(copied_run / "checkpoint.npz", **forge)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in copied_run.iterdir()}
    with pytest.raises(ValueError, match=message):
        train(_cfg(), copied_run, task=_toy(), resume=True)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in copied_run.iterdir()} == before


def test_resume_of_a_finished_run_keeps_its_summary(copied_run):
    """The forged cases fail for their forgery, not for the copy: unforged, it resumes (nothing to do), drops its
    stale temp file and keeps summary.json byte for byte (wall_s included)."""
    summary = (copied_run / "summary.json").read_bytes()
    assert train(_cfg(), copied_run, task=_toy(), resume=True).finished
    assert (copied_run / "summary.json").read_bytes() == summary and not list(copied_run.glob("*.tmp"))


# ---- real processes, SIGKILLed -------------------------------------------------------------------------------

CLI = ["-m", "ssmlab.cli", "train", "--model", "lru", "--task", "digits", "--config", "quick", "--set", "epochs=2",
       "--set", "d_model=8", "--set", "depth=1", "--set", "batch_size=256", "--set", "log_every=1", "--set",
       "progress=false", "--set", "checkpoint_every=1"]  # 1437 // 256 = 5 steps per epoch


def _steps_logged(log: Path) -> int:
    return log.read_text().count('"event": "step"') if log.exists() else 0


def _cli(out: Path, *, resume: bool, kill: str | None = None, after_first_step: float | None = None) -> int:
    """Run `ssmlab train` into `out`; SIGKILL it at hook `kill`, or `after_first_step` s after its first step."""
    env = dict(os.environ, PYTHONPATH=str(Path(ssmlab.__file__).parents[1]), JAX_PLATFORMS="cpu")
    env.pop(_killpoint.ENV, None)
    if kill:
        env[_killpoint.ENV] = kill
    cmd = [sys.executable, *CLI, "--out", str(out)] + (["--resume"] if resume else [])
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if after_first_step is not None:
        log = out / "metrics.jsonl"
        logged = _steps_logged(log) if resume else 0
        while proc.poll() is None and _steps_logged(log) <= logged:
            time.sleep(0.01)
        time.sleep(after_first_step)
        proc.kill()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, -9), err.decode()[-2000:]
    return proc.returncode


@pytest.mark.slow
def test_sigkilled_cli_runs_resume_to_the_uninterrupted_run(tmp_path):
    """Real processes: deterministic kills (inside a checkpoint write, after the checkpoint of epoch 1's last step
    with its evaluation pending, inside the write of best.npz, after the checkpoint of the last step), then timed
    kills at random moments after the first step; each chain is resumed to the end and compared."""
    assert _cli(tmp_path / "full", resume=False) == 0
    run = tmp_path / "hooks"
    for i, spec in enumerate(["write:checkpoint.npz:3", "saved:checkpoint.npz@5:1", "write:best.npz:1",
                              "saved:checkpoint.npz@10:1"]):
        assert _cli(run, resume=i > 0, kill=spec) == -9, spec
        assert bool(list(run.glob("*.tmp"))) == spec.startswith("write:")  # the next start removes it again
    assert _cli(run, resume=True) == 0
    assert_same_run(run, tmp_path / "full")  # same file set: no temp file left
    rng, run = random.Random(0), tmp_path / "timed"
    codes = [_cli(run, resume=i > 0, after_first_step=rng.uniform(0.0, 0.6)) for i in range(3)]
    assert _cli(run, resume=True) == 0 and -9 in codes
    assert_same_run(run, tmp_path / "full")
