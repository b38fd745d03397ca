"""Discoverability: `ssmlab show NAME` and `ssmlab train --show-config` list keys, types, defaults, presets."""

import dataclasses
import inspect

import pytest
from typer.testing import CliRunner

from ssmlab.cli import app
from ssmlab.data.dataset import task_factory
from ssmlab.experiments import experiments
from ssmlab.train import TrainConfig, preset

runner = CliRunner()


def _rows(output: str, names) -> dict[str, list[str]]:
    rows = {}
    for line in output.splitlines():
        cells = line.split()
        if cells and cells[0] in names and cells[0] not in rows:
            rows[cells[0]] = cells
    return rows


@pytest.mark.parametrize("name", sorted(experiments()))
def test_show_lists_every_key_with_type_default_and_presets(name):
    exp = experiments()[name]
    result = runner.invoke(app, ["show", name])
    assert result.exit_code == 0, result.output
    fields = [f.name for f in dataclasses.fields(exp.config_cls)]
    rows = _rows(result.output, fields)
    assert sorted(rows) == sorted(fields)
    for f in dataclasses.fields(exp.config_cls):
        quick, full = getattr(exp.quick, f.name), getattr(exp.full, f.name)
        if isinstance(quick, int | float) and not isinstance(quick, bool):  # numbers are one cell each
            assert rows[f.name][3:5] == [repr(quick), repr(full)], (f.name, rows[f.name])
    assert f"ssmlab run {name}" in result.output


def test_show_unknown_experiment_is_a_one_line_error():
    result = runner.invoke(app, ["show", "nope"])
    assert result.exit_code == 2 and "unknown experiment 'nope'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_train_show_config_lists_train_config_presets_and_task_options(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--show-config", "--task", "digits", "--model", "lru", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not out.exists()  # printed and exited: no run directory, no training
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    rows = _rows(result.output, fields)
    assert sorted(rows) == sorted(fields)
    assert "--config quick" in result.output and "--config paper" in result.output
    quick = preset("digits", "quick", "lru")
    assert rows["epochs"][:3] == ["epochs", "int", repr(TrainConfig().epochs)] and repr(quick.epochs) in rows["epochs"]
    options = [p for p in inspect.signature(task_factory("digits")).parameters]
    assert options and all(o in _rows(result.output, options) for o in options)
    bad = runner.invoke(app, ["train", "--show-config", "--task", "nope"])
    assert bad.exit_code == 2 and "unknown task 'nope'" in bad.output
