"""Multi-process data parallelism on one machine: N CPU processes on 127.0.0.1 train exactly the single-process run.

Each test starts the processes itself (`distributed_worker.py`, a tiny model on fixed data), every
wait is bounded and every process is killed if any fails, and all traffic stays on 127.0.0.1 (the
coordinator binds to it). The processes use XLA's lowest backend optimisation level, which halves
the compile time; the single-process reference runs with the same flags.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ssmlab
from ssmlab.train import distributed

WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT_S = 240  # per run, all its processes together; a normal run takes ~10-20 s on 2 loaded cores
F32 = dict(rtol=2e-5, atol=2e-6)  # float32 all-reduce vs single-device sums, after 8 Adam steps


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(num: int, pid: int, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if "proxy" not in k.lower() and not k.startswith(("SSMLAB_DISTRIBUTED", "SSMLAB_COORDINATOR",
                                                              "SSMLAB_NUM_PROCESSES", "SSMLAB_PROCESS_ID",
                                                              "JAX_", "XLA_"))}
    src = str(Path(ssmlab.__file__).resolve().parents[1])
    env.update(PYTHONPATH=os.pathsep.join([src, env.get("PYTHONPATH", "")]), JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_backend_optimization_level=0")
    if num > 1:
        env.update({distributed.ENV_FLAG: "1", distributed.ENV_COORDINATOR: f"127.0.0.1:{port}",
                    distributed.ENV_NUM_PROCESSES: str(num), distributed.ENV_PROCESS_ID: str(pid),
                    distributed.ENV_INIT_TIMEOUT: "120"})
    return env


class Run:
    """The `num` processes of one training run into `run_dir`, started at once."""

    def __init__(self, tmp: Path, name: str, num: int, *args: str):
        self.run_dir, self.num, port = tmp / name, num, _free_port()
        self.params = [tmp / f"{name}-params{p}.npz" for p in range(num)]
        self.procs = [subprocess.Popen([sys.executable, str(WORKER), str(self.run_dir), str(self.params[p]), *args],
                                       env=_env(num, p, port), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, start_new_session=True) for p in range(num)]

    def wait(self) -> list[dict]:
        """Each process's JSON report; on a failure or timeout every process is killed and the test fails."""
        deadline, outs = time.monotonic() + TIMEOUT_S, []
        try:
            for proc in self.procs:
                outs.append(proc.communicate(timeout=max(1.0, deadline - time.monotonic())))
                if proc.returncode != 0:
                    pytest.fail(f"process {len(outs) - 1}/{self.num} exited {proc.returncode}:\n{outs[-1][1][-3000:]}")
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.num}-process run did not finish within {TIMEOUT_S} s")
        finally:
            for proc in self.procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        return [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]

    def final(self, p: int = 0) -> list[np.ndarray]:
        """Model and norm-state arrays held by process p at the end."""
        with np.load(self.params[p]) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]

    def checkpoint(self) -> list[np.ndarray]:
        """Every numeric array of the run's checkpoint.npz (model, norm state, optimiser state)."""
        with np.load(self.run_dir / "checkpoint.npz") as data:
            leaves = [data[k] for k in sorted(data.files, key=lambda k: (len(k), k)) if k.startswith("leaf_")]
        return [x for x in leaves if x.dtype.kind in "biuf"]  # not the string leaves (layer options)


def _assert_close(a: list[np.ndarray], b: list[np.ndarray], **tol) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, **tol)


def _step_losses(run_dir: Path) -> list[float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r.get("event") == "step"]
    assert [r["step"] for r in steps] == list(range(1, len(steps) + 1))  # one writer: each step logged once
    return [r["loss"] for r in steps]


def test_two_processes_train_the_single_process_run(tmp_path):
    one, two = Run(tmp_path, "one", 1), Run(tmp_path, "two", 2)  # started together, waited for together
    ref, reports = one.wait()[0], two.wait()
    assert [(r["process"], r["processes"], r["devices"]) for r in reports] == [(0, 2, 2), (1, 2, 2)]
    assert ref["processes"] == ref["devices"] == 1
    assert reports[1]["writes"] == [] and "checkpoint.npz" in reports[0]["writes"]  # process 0 writes alone
    assert reports[0]["writes"] == ref["writes"]
    for r in reports:  # every process sees the global loss of every step
        assert [s for s, _ in r["losses"]] == list(range(1, 9))
        np.testing.assert_allclose([v for _, v in r["losses"]], [v for _, v in ref["losses"]], **F32)
    np.testing.assert_allclose(_step_losses(two.run_dir), _step_losses(one.run_dir), **F32)
    for a, b in zip(two.final(0), two.final(1), strict=True):
        np.testing.assert_array_equal(a, b)  # replicated parameters: bit-identical on every process
    _assert_close(two.final(0), one.final(0), **F32)
    _assert_close(two.checkpoint(), one.checkpoint(), **F32)  # optimiser state too


@pytest.mark.slow
def test_four_processes_and_resume_across_process_counts(tmp_path):
    one, four = Run(tmp_path, "one", 1), Run(tmp_path, "four", 4)
    ref, reports = one.wait()[0], four.wait()
    assert [r["processes"] for r in reports] == [4] * 4 and all(r["writes"] == [] for r in reports[1:])
    _assert_close(four.checkpoint(), one.checkpoint(), **F32)
    for p in range(4):
        _assert_close(four.final(p), one.final(0), **F32)
    # stopped mid-epoch by 2 processes, finished by 1; stopped by 1 after an epoch and a step, finished by 4
    for name, first, second, stop in (("two-one", 2, 1, "3"), ("one-four", 1, 4, "5")):
        part = Run(tmp_path, name, first, stop).wait()
        assert part[0]["losses"][-1][0] == int(stop)
        resumed = Run(tmp_path, name, second, "0", "resume")
        reports = resumed.wait()
        assert [s for s, _ in reports[0]["losses"]] == list(range(int(stop) + 1, 9))
        np.testing.assert_allclose([v for _, v in reports[0]["losses"]], [v for _, v in ref["losses"][int(stop):]],
                                   **F32)
        np.testing.assert_allclose(_step_losses(resumed.run_dir), [v for _, v in ref["losses"]], **F32)
        _assert_close(resumed.checkpoint(), one.checkpoint(), **F32)
        _assert_close(resumed.final(0), one.final(0), **F32)


def test_launch_settings_from_the_environment():
    env = {"SSMLAB_COORDINATOR": "127.0.0.1:23456", "SSMLAB_NUM_PROCESSES": "4", "SSMLAB_PROCESS_ID": "3"}
    assert distributed.launch_settings(env) == {
        "coordinator_address": "127.0.0.1:23456", "coordinator_bind_address": "127.0.0.1:23456",
        "num_processes": 4, "process_id": 3, "initialization_timeout": 300}
    # a remote coordinator keeps JAX's bind address; unset counts are left to SLURM/cluster auto-detection
    assert distributed.launch_settings({"JAX_COORDINATOR_ADDRESS": "node7:1234", "SSMLAB_INIT_TIMEOUT": "9"}) == {
        "coordinator_address": "node7:1234", "initialization_timeout": 9}
    assert distributed.launch_settings({}) == {"initialization_timeout": 300}


@pytest.mark.parametrize(("env", "message"), [
    ({"SSMLAB_COORDINATOR": "127.0.0.1"}, "SSMLAB_COORDINATOR='127.0.0.1' must be host:port"),
    ({"SSMLAB_COORDINATOR": "host:99999"}, "must be host:port"),
    ({"SSMLAB_NUM_PROCESSES": "0"}, "SSMLAB_NUM_PROCESSES='0' must be an integer >= 1"),
    ({"SSMLAB_PROCESS_ID": "one"}, "SSMLAB_PROCESS_ID='one' must be an integer >= 0"),
    ({"SSMLAB_NUM_PROCESSES": "2", "SSMLAB_PROCESS_ID": "2"}, r"SSMLAB_PROCESS_ID=2 must be < SSMLAB_NUM_PROCESSES=2"),
])
def test_bad_launch_settings_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        distributed.launch_settings(env)


def test_train_help_says_how_to_launch(monkeypatch):
    from typer.testing import CliRunner

    from ssmlab.cli import app

    monkeypatch.setenv("COLUMNS", "200")
    text = " ".join(CliRunner().invoke(app, ["train", "--help"]).output.split())
    for needle in ("SSMLAB_COORDINATOR", "SSMLAB_NUM_PROCESSES", "SSMLAB_PROCESS_ID", "SLURM", "srun",
                   "127.0.0.1", "docs/distributed.md"):
        assert needle in text, needle
