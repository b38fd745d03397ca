import dataclasses
import json

import pytest

from ssmlab.experiments import experiments, get, registry
from ssmlab.experiments.registry import Claim, Experiment, Result, apply_overrides, register
from ssmlab.experiments.runner import reproduce


@dataclasses.dataclass(frozen=True)
class _Cfg:
    n: int = 3
    rate: float = 0.5
    flag: bool = False
    sizes: tuple[int, ...] = (1, 2)
    label: str = "x"


def test_overrides_parse_types():
    cfg = apply_overrides(_Cfg(), {"n": "7", "rate": "1e-3", "flag": "true", "sizes": "4,5,6", "label": "y"})
    assert cfg == _Cfg(n=7, rate=1e-3, flag=True, sizes=(4, 5, 6), label="y")
    with pytest.raises(ValueError, match="unknown config key 'm'"):
        apply_overrides(_Cfg(), {"m": "1"})
    with pytest.raises(ValueError, match="boolean"):
        apply_overrides(_Cfg(), {"flag": "maybe"})


def test_claim_verdict_validated():
    with pytest.raises(ValueError, match="verdict"):
        Claim("c", "p", "o", "ok")


def test_unknown_experiment_message():
    with pytest.raises(KeyError, match="ssmlab list"):
        get("no-such-experiment")


def test_reproduce_writes_report_and_survives_a_failing_experiment(tmp_path, monkeypatch):
    # the toy experiments live in a copy of the registry: later tests (and the docs build) see the real one
    monkeypatch.setattr(registry, "_EXPERIMENTS", dict(registry._EXPERIMENTS))

    def ok_run(cfg, out_dir):
        (out_dir / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        return Result({"value": cfg.n * 2}, [Claim("doubles", "6", str(cfg.n * 2), "pass")], [out_dir / "fig.png"],
                      "fine")

    def bad_run(cfg, out_dir):
        raise RuntimeError("boom")

    register(Experiment("test-ok", "paper", "checks", _Cfg, _Cfg(), _Cfg(n=5), ok_run))
    register(Experiment("test-bad", "paper", "checks", _Cfg, _Cfg(), _Cfg(), bad_run))
    results = reproduce(tmp_path, "quick", ["test-ok", "test-bad"], {"n": "4"})
    assert isinstance(results["test-bad"], str) and "boom" in results["test-bad"]
    metrics = json.loads((tmp_path / "test-ok" / "metrics.json").read_text())
    assert metrics["metrics"]["value"] == 8
    config = json.loads((tmp_path / "test-ok" / "config.json").read_text())
    assert config["config"]["n"] == 4 and "jax" in config["environment"]
    md = (tmp_path / "report.md").read_text()
    assert "| [test-ok](#test-ok) | paper | doubles | 6 | 8 | pass |" in md and "boom" in md
    assert "data:image/png;base64" in (tmp_path / "report.html").read_text()


def test_ssm_views_registered():
    assert "ssm-views" in experiments()
