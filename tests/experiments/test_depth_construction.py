"""Smoke run of the depth-construction experiment: files written, verdicts follow from the numbers."""

import json
import math

import numpy as np

from ssmlab.experiments.depth_construction import plot
from ssmlab.experiments.runner import run_one


def test_depth_construction_small(tmp_path):
    overrides = {"state_sizes": "1,4", "gains": "1,100,10000", "bounds": "2.0,4.0", "trials": "1", "length": "128"}
    result = run_one("depth-construction", tmp_path, "quick", overrides)
    out = tmp_path / "depth-construction"
    assert (out / "depth_vs_gain.png").stat().st_size > 1000
    rows = np.load(out / "construction.npz")
    assert rows["found_depth"].shape == (2 * 3 * 2,)
    assert np.all(rows["found_depth"] <= rows["bound_R4"])
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    verdicts = [c.verdict for c in result.claims]
    assert verdicts[0] == ("pass" if metrics["max_rel_err"] <= 1e-10 and metrics["max_norm_over_bound"] <= 1 + 1e-12
                           else "fail")
    assert metrics["max_rel_err"] < 1e-10
    slope_err = max(abs(s - 1) for s in metrics["slopes_times_log10M"].values())
    assert verdicts[1] == ("pass" if slope_err <= 0.15 else "partial" if slope_err <= 0.4 else "fail")
    assert verdicts[2] == ("pass" if metrics["found_above_bound"] == metrics["found_below_lower_bound"] == 0
                           else "fail")
    assert np.all(rows["lower_bound"] <= rows["found_depth"])
    assert math.isfinite(metrics["param_ratio_at_max_gain"]) and metrics["param_ratio_at_max_gain"] > 1
    (out / "depth_vs_gain.png").unlink()
    assert plot(json.loads(json.dumps(result.metrics)), out) == [out / "depth_vs_gain.png"]
    assert (out / "depth_vs_gain.png").stat().st_size > 1000  # redrawn from the metrics alone
