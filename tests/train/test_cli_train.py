"""`ssmlab train`: presets, --set overrides, a stopped run resumed from the CLI, clear errors."""

import json

from typer.testing import CliRunner

from ssmlab.cli import app
from ssmlab.train import preset, preset_names


def test_presets_registered():
    assert {"quick", "paper"} <= set(preset_names("digits"))
    cfg = preset("digits", "quick", "s4d")
    assert cfg.model == "s4d" and cfg.task == "digits" and cfg.epochs < preset("digits", "paper", "s4d").epochs


def test_cli_train_stop_resume_and_errors(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    common = ["train", "--model", "s4d", "--task", "digits", "--config", "quick", "--out", str(out),
              "--set", "progress=false", "--set", "d_model=8", "--set", "epochs=1", "--set", "batch_size=256"]
    res = runner.invoke(app, common + ["--set", "max_steps=2"])
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["d_model"] == 8 and saved["max_steps"] == 2
    res = runner.invoke(app, common + ["--resume"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] and summary["steps"] == 1293 // 256  # digits: 1,293 train after validation
    assert "test accuracy" in res.output and "best-validation model" in res.output
    before = {name: (out / name).read_bytes() for name in ("summary.json", "checkpoint.npz", "best.npz")}
    res = runner.invoke(app, common + ["--resume"])  # a finished run: nothing to do, wall_s kept
    assert res.exit_code == 0, res.output
    assert {name: (out / name).read_bytes() for name in before} == before
    res = runner.invoke(app, common + ["--resume", "--set", "lr=0.5"])
    assert res.exit_code == 2 and "config hash" in res.output
    res = runner.invoke(app, ["train", "--set", "nope=1"])
    assert res.exit_code != 0 and "unknown config key" in res.output
