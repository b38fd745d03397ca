"""Every user error at the CLI is one line on stderr naming the argument, exit code 2, no traceback.

The cases are the bad inputs listed in docs/reliability.md ("CLI user errors"); none of them may run
an experiment or a training step (they are refused before anything starts).
"""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ssmlab.cli import app

runner = CliRunner()


def _cases(tmp):
    file_ = tmp / "a-file"
    file_.write_text("x")
    out = ["--out", str(tmp / "out")]
    run = ["run", "ssm-views", *out]
    return [
        # (id, argv, words the one-line message must contain)
        ("out-is-file", ["run", "ssm-views", "--out", str(file_)], ["--out", "not a directory"]),
        ("out-unwritable", ["run", "ssm-views", "--out", "/proc/ssmlab-x"], ["--out", "cannot write"]),
        ("trials-negative", [*run, "--set", "trials=-1"], ["trials", ">= 1"]),
        ("lengths-zero", [*run, "--set", "lengths=0"], ["lengths", ">= 1"]),
        ("lengths-empty", [*run, "--set", "lengths="], ["lengths", "empty"]),
        ("tolerance-nan", [*run, "--set", "tolerance=nan"], ["tolerance", "finite"]),
        ("tolerance-zero", [*run, "--set", "tolerance=0"], ["tolerance", "> 0"]),
        ("trials-not-int", [*run, "--set", "trials=abc"], ["trials", "integer"]),
        ("unknown-key", [*run, "--set", "wrong=1"], ["unknown config key", "wrong"]),
        ("set-without-equals", [*run, "--set", "nonsense"], ["--set", "key=value"]),
        ("unknown-experiment", ["run", "nope", *out], ["unknown experiment", "nope"]),
        ("reproduce-only-unknown", ["reproduce", "--only", "nope", *out], ["--only", "nope"]),
        ("pole-unstable", ["run", "ld-fig1e", *out, "--set", "teacher_a=1.5"], ["teacher_a", "< 1 (a stable pole)"]),
        ("generate-workers-0", ["data", "generate", "listops", "--data-dir", str(tmp / "d"), "--workers", "0"],
         ["--workers", ">= 1"]),
        ("generate-num-0", ["data", "generate", "listops", "--data-dir", str(tmp / "d"), "--num", "0"],
         ["--num", ">= 1"]),
        ("generate-kind", ["data", "generate", "cifar", "--data-dir", str(tmp / "d")], ["listops", "pathfinder"]),
        ("generate-dir-is-file", ["data", "generate", "listops", "--data-dir", str(file_)],
         ["--data-dir", "not a directory"]),
        ("train-unknown-key", ["train", "--set", "nope=1", *out], ["--set", "nope"]),
        ("train-bad-value", ["train", "--set", "epochs=zero", *out], ["--set", "epochs"]),
        ("train-unknown-model", ["train", "--model", "nope", *out], ["--model", "nope", "lru"]),
        ("train-layer-unknown-field", ["train", "--model", "stu", "--set", "layer.state_size=4", *out],
         ["--set", "layer.state_size", "STUSpec", "num_filters"]),
        ("train-layer-bad-value", ["train", "--model", "stu", "--set", "layer.num_filters=many", *out],
         ["--set", "layer.num_filters", "integer"]),
        ("train-layer-bad-choice", ["train", "--model", "stu", "--set", "layer.preset=paper", *out],
         ["--set", "layer.preset", "paper_eq4", "official"]),
        ("train-task-unknown-option", ["train", "--set", "task.nope=1", *out], ["--set", "task.nope", "val_fraction"]),
        ("train-unknown-task", ["train", "--task", "nope", *out], ["--task", "nope", "ssmlab data list"]),
        ("train-unknown-preset", ["train", "--config", "nope", *out], ["--config", "nope", "quick"]),
        ("train-data-dir-missing", ["train", "--data-dir", str(tmp / "missing"), *out], ["--data-dir"]),
        ("train-listops-no-data", ["train", "--task", "listops", "--data-dir", str(tmp), *out],
         ["--data-dir", "listops"]),
        ("plot-out-missing", ["plot", "--out", str(tmp / "missing")], ["--out", "not a directory"]),
        ("plot-nothing-there", ["plot", "--out", str(tmp)], ["--out", "no experiment results"]),
        ("plot-unknown", ["plot", "nope", "--out", str(tmp)], ["unknown experiment", "nope"]),
    ]




@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return {c[0]: c for c in _cases(tmp_path_factory.mktemp("cli-errors"))}


@pytest.mark.parametrize("case", [
    "out-is-file", "out-unwritable", "trials-negative", "lengths-zero", "lengths-empty", "tolerance-nan",
    "tolerance-zero", "trials-not-int", "unknown-key", "set-without-equals", "unknown-experiment",
    "reproduce-only-unknown", "pole-unstable", "generate-workers-0", "generate-num-0", "generate-kind",
    "generate-dir-is-file", "train-unknown-key", "train-bad-value", "train-unknown-model",
    "train-layer-unknown-field", "train-layer-bad-value", "train-layer-bad-choice", "train-task-unknown-option",
    "train-unknown-task", "train-unknown-preset", "train-data-dir-missing", "train-listops-no-data",
    "plot-out-missing", "plot-nothing-there", "plot-unknown"])
def test_user_error_is_one_line_exit_2(cases, case):
    _, argv, words = cases[case]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])
    assert "report:" not in result.stdout, "refused input must not run anything"


def _argv(tmp_path, *root):
    return [sys.executable, "-m", "ssmlab.cli", *root, "run", "ssm-views", "--out", str(tmp_path),
            "--set", "trials=abc"]


def test_real_process_exit_code(tmp_path):
    """The console entry point itself: exit status 2 and exactly one line on stderr."""
    done = subprocess.run(_argv(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("error: ")


@pytest.mark.slow
def test_debug_flag_shows_the_cause(tmp_path):
    debug = subprocess.run(_argv(tmp_path, "--debug"), capture_output=True, text=True, timeout=120)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith("error: ")
