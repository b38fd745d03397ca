from typer.testing import CliRunner

from ssmlab import __version__
from ssmlab.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_info_and_list():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0 and "jax" in result.output
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "ssm-views" in result.output


def test_run_with_set_and_errors(tmp_path):
    result = runner.invoke(app, ["run", "ssm-views", "--set", "lengths=3", "--set", "trials=1",
                                 "--set", "state_size=2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.md").exists()
    (tmp_path / "report.md").unlink()
    redrawn = runner.invoke(app, ["plot", "--out", str(tmp_path)])  # figures from metrics.json, then the report
    assert redrawn.exit_code == 0 and "ssm-views:" in redrawn.output and (tmp_path / "report.md").exists()
    bad = runner.invoke(app, ["run", "ssm-views", "--set", "nonsense", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "key=value" in bad.output
    bad = runner.invoke(app, ["run", "ssm-views", "--set", "wrong=1", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "unknown config key" in bad.output
    bad = runner.invoke(app, ["reproduce", "--only", "nope", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "unknown experiment" in bad.output


def test_data_generate_then_load(tmp_path):
    from ssmlab.data import make_task

    result = runner.invoke(app, ["data", "generate", "listops", "--data-dir", str(tmp_path), "--num", "48"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "listops-1000" / "basic_train.tsv").exists()
    result = runner.invoke(app, ["data", "generate", "pathfinder", "--data-dir", str(tmp_path), "--num", "4"])
    assert result.exit_code == 0, result.output
    assert "listops" in runner.invoke(app, ["data", "list"]).output
    bad = runner.invoke(app, ["data", "generate", "cifar", "--data-dir", str(tmp_path)])
    assert bad.exit_code != 0 and "listops" in bad.output
    task = make_task("listops", data_dir=str(tmp_path))
    assert len(task.train) == 48
    easy = tmp_path / "easy"
    result = runner.invoke(app, ["data", "generate", "pathfinder", "--data-dir", str(easy), "--num", "4",
                                 "--difficulty", "curv_baseline", "--contour-length", "3", "--num-distractors", "0"])
    assert result.exit_code == 0, result.output
    meta = (easy / "pathfinder32" / "curv_baseline" / "metadata" / "0.npy").read_text().split("\n")[0].split()
    assert meta[5] == "3"  # contour_length field of the released metadata format
