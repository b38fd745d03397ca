"""lm-small: registered, configs validate, route verdicts and figures from metrics, a tiny run end to end."""

import dataclasses
import json
import math

import pytest

from ssmlab.experiments import get
from ssmlab.experiments.lm_small import LMSmallConfig, _route_claims, _speed_table, plot, run


def test_registered_with_validating_configs():
    exp = get("lm-small")
    assert exp.quick.layers == ("stu", "lru", "s4d", "s4", "s5", "mamba") and exp.quick.epochs < exp.full.epochs
    assert exp.config("quick", {"epochs": "2"}).epochs == 2
    with pytest.raises(ValueError, match="lr"):
        LMSmallConfig(lr=0.0)
    with pytest.raises(ValueError, match="FutureFill is exact for at most seq_len"):
        LMSmallConfig(seq_len=16, prompt="def ", speed_tokens=13)
    with pytest.raises(ValueError, match="even"):
        LMSmallConfig(lds_state_size=5)


def _routes(ff_err, lds_err, speeds):
    return {route: {"tokens_per_s": s, "logit_rel_err": e, "greedy_agreement": 1.0}
            for route, s, e in zip(("exact", "futurefill", "futurefill_epoched", "lds"), speeds,
                                   (0.0, ff_err, ff_err, lds_err), strict=True)}


def test_route_verdicts_table_and_figures_come_from_the_metrics(tmp_path):
    cfg = LMSmallConfig(seq_len=32, speed_tokens=28)
    claims = _route_claims("stu", _routes(3e-7, 5e-2, (100.0, 250.0, 90.0, 400.0)), cfg)
    assert [c.verdict for c in claims] == ["pass", "pass", "partial", "pass", "fail", "pass"]
    assert "2.50x" in claims[3].ours and "N = 28" in claims[3].ours
    bad = _route_claims("stu", _routes(2e-3, 0.5, (100.0, 50.0, 50.0, 50.0)), cfg)
    assert [c.verdict for c in bad] == ["fail"] * 6
    curves = {"stu": {"epochs": [1, 2], "val_bits": [5.0, 4.0], "tokens_per_s": 100.0, "speed_tokens": 28,
                      "routes": _routes(3e-7, 5e-2, (100.0, 250.0, 90.0, 400.0))},
              "lru": {"epochs": [1, 2], "val_bits": [5.5, 4.5], "tokens_per_s": 300.0, "speed_tokens": 28},
              "x": {"epochs": [1], "val_bits": [6.0], "tokens_per_s": None, "generation_error": "TypeError: no"}}
    table = _speed_table(curves, cfg)
    assert "| stu lds | 400 | 4.00 | 5.0e-02 | 100% |" in table and "| lru | 300 | 3.00 | - | - |" in table
    metrics = json.loads(json.dumps({"curves": curves, "unigram_entropy_bits": 4.5}))
    figs = plot(metrics, tmp_path)
    assert [f.name for f in figs] == ["lm_small_val_loss.png", "lm_small_generation_speed.png"]
    assert all(f.stat().st_size > 0 for f in figs)


@pytest.mark.slow  # trains one tiny model per layer (~10 s each on 2 shared cores), times 4 STU routes
def test_tiny_run_reports_curves_samples_routes_and_verdicts(tmp_path):
    cfg = dataclasses.replace(get("lm-small").quick, layers=("lru", "stu"), max_windows=16,
                              seq_len=32, d_model=16, epochs=2, sample_tokens=8, speed_tokens=16, speed_repeats=1,
                              lds_state_size=8)
    res = run(cfg, tmp_path)
    curves = res.metrics["curves"]
    assert set(curves) == {"lru", "stu"} and all(len(c["val_bits"]) == 2 for c in curves.values())
    assert 0 < res.metrics["unigram_entropy_bits"] < 8
    assert all(math.isfinite(c["final_val_bits"]) for c in curves.values())
    for c in curves.values():
        assert c["sample"].startswith(cfg.prompt) and c["tokens_per_s"] > 0 and c["speed_tokens"] == 16
    routes = curves["stu"]["routes"]
    assert routes["exact"]["logit_rel_err"] == 0 and routes["exact"]["greedy_agreement"] == 1
    for route in ("futurefill", "futurefill_epoched"):  # exact routes, independently of the verdict code
        assert routes[route]["logit_rel_err"] < 1e-4 and routes[route]["greedy_agreement"] == 1
    assert len(res.claims) == 2 + 6 and all(c.verdict in ("pass", "partial", "fail") for c in res.claims)
    assert "| stu futurefill |" in res.summary
    figs = plot(json.loads(json.dumps(res.metrics)), tmp_path)
    assert len(figs) == 2 and all(f.is_file() for f in figs)
