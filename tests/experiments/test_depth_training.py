"""Smoke run of the depth-training experiment: files written, verdicts follow from the saved errors."""

import json

import numpy as np
import pytest

from ssmlab.experiments.depth_training import plot
from ssmlab.experiments.runner import run_one


@pytest.mark.slow  # ~20 s of CPU: three architectures are compiled
def test_depth_training_small(tmp_path):
    overrides = {"gains": "1,1000", "depths": "1,2", "steps": "40", "seeds": "1", "length": "16"}
    result = run_one("depth-training", tmp_path, "quick", overrides)
    out = tmp_path / "depth-training"
    assert (out / "error_vs_gain.png").stat().st_size > 1000
    data = np.load(out / "training.npz")
    names = list(data["names"])
    assert names == ["shallow m=1", "deep K=2", "shallow m=2"]
    assert data["errors"].shape == (3, 2, 2, 1) and np.all(np.isfinite(data["errors"]))
    med = np.median(data["errors"], axis=-1)
    reach = [max([g for g, e in zip((1.0, 1000.0), med[i, 0], strict=True) if e <= 0.02], default=0.0)
             for i in (1, 2)]
    first = result.claims[0]
    assert first.verdict == ("pass" if reach[0] > reach[1] else "partial" if reach[0] == reach[1] else "fail")
    assert result.claims[-1].verdict == "pass"  # projected iterates stay within the bound
    (out / "error_vs_gain.png").unlink()
    assert plot(json.loads(json.dumps(result.metrics)), out) == [out / "error_vs_gain.png"]
    assert (out / "error_vs_gain.png").stat().st_size > 1000  # redrawn from the metrics alone
