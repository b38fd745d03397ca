"""Smoke tests: each learning-dynamics experiment runs on a tiny config, computes verdicts, and its figure is
drawn from the metrics as metrics.json holds them (plus the arrays run saved in the folder)."""

import dataclasses
import json

import numpy as np
import pytest

from ssmlab.experiments import ld_fig1e, ld_multilayer, ld_nsweep, ld_strongest_first


def _check(module, result, tmp_path):
    assert not result.figures  # run computes; plot draws
    figures = module.plot(json.loads(json.dumps(result.metrics)), tmp_path)
    assert figures and all(p.exists() and p.parent == tmp_path and p.suffix == ".png" for p in figures)
    assert all(p.stat().st_size > 1000 for p in figures)
    assert result.claims and all(c.verdict in ("pass", "fail", "partial", "info") for c in result.claims)
    assert result.summary


def test_nsweep_tiny(tmp_path):
    cfg = ld_nsweep.NSweepConfig(n_values=(1, 2, 4), length=16, records=20)
    res = ld_nsweep.run(cfg, tmp_path)
    _check(ld_nsweep, res, tmp_path)
    slopes = res.metrics["slopes_gd"]
    assert abs(slopes["c_only_tied/fixed"] + 2) < 0.1 and abs(slopes["c_only_untied/fixed"] + 1) < 0.1
    assert res.claims[2].verdict == ("pass" if max(abs(slopes[k] - res.metrics["slopes_predicted"][k])
                                                   for k in slopes) < cfg.slope_tolerance else "fail")
    with pytest.raises(ValueError, match="n_values"):
        ld_nsweep.run(dataclasses.replace(cfg, n_values=(4,)), tmp_path)


@pytest.mark.slow
def test_nsweep_verdicts_follow_the_numbers(tmp_path):
    cfg = ld_nsweep.NSweepConfig(n_values=(1, 2, 4), length=16, records=20, slope_tolerance=1e-12)
    assert ld_nsweep.run(cfg, tmp_path).claims[2].verdict == "fail"  # no slope agrees to 1e-12: the row must fail


def test_strongest_first_tiny(tmp_path):
    res = ld_strongest_first.run(ld_strongest_first.StrongestFirstConfig(modes=3, length=16), tmp_path)
    _check(ld_strongest_first, res, tmp_path)
    order = np.argsort(res.metrics["measured_steps"])
    assert list(order) == list(np.argsort(res.metrics["time_constants"]))
    assert res.claims[0].verdict == ("pass" if res.metrics["spearman"] > 0.999 else "fail")


@pytest.mark.slow
def test_fig1e_tiny(tmp_path):
    cfg = ld_fig1e.Fig1EConfig(length=32, bins=(2, 5), amplitudes=(1.0, 0.6), teacher_a=(0.8, -0.5), records=20)
    res = ld_fig1e.run(cfg, tmp_path)
    _check(ld_fig1e, res, tmp_path)
    assert res.metrics["max_rel_dev_ode_vs_eq5"] < 1e-6
    assert res.claims[0].verdict == ("pass" if res.metrics["max_rel_dev_gd_vs_eq5"] < cfg.tolerance else "fail")


@pytest.mark.slow
def test_multilayer_tiny(tmp_path):
    cfg = ld_multilayer.MultiLayerConfig(depths=(1, 2), steps=400, records=20)
    res = ld_multilayer.run(cfg, tmp_path)
    _check(ld_multilayer, res, tmp_path)
    assert res.metrics["max_rel_dev_gd_vs_ode"] < 0.03
    with pytest.raises(ValueError, match="records"):
        ld_multilayer.run(dataclasses.replace(cfg, steps=401), tmp_path)
