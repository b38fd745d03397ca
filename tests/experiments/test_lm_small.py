"""lm-small: registered, configs validate, a tiny run trains every layer and reports curves and verdicts."""

import dataclasses
import math

import pytest

from ssmlab.experiments import get
from ssmlab.experiments.lm_small import LMSmallConfig, run


def test_registered_with_validating_configs():
    exp = get("lm-small")
    assert exp.quick.layers == ("stu", "lru", "s4d") and exp.quick.epochs < exp.full.epochs
    assert exp.config("quick", {"epochs": "2"}).epochs == 2
    with pytest.raises(ValueError, match="lr"):
        LMSmallConfig(lr=0.0)


@pytest.mark.slow  # trains one tiny model per layer (~10 s each on 2 shared cores)
def test_tiny_run_reports_curves_samples_and_verdicts(tmp_path):
    cfg = dataclasses.replace(get("lm-small").quick, layers=("lru", "stu"), max_windows=16,
                              seq_len=32, d_model=16, epochs=2, sample_tokens=8, speed_tokens=16)
    res = run(cfg, tmp_path)
    curves = res.metrics["curves"]
    assert set(curves) == {"lru", "stu"} and all(len(c["val_bits"]) == 2 for c in curves.values())
    assert 0 < res.metrics["unigram_entropy_bits"] < 8
    assert [c.verdict in ("pass", "partial", "fail") for c in res.claims] == [True, True]
    assert all(math.isfinite(c["final_val_bits"]) for c in curves.values())
    assert (tmp_path / "lm_small_val_loss.png").exists()
    for c in curves.values():
        assert c["sample"] is None or c["sample"].startswith(cfg.prompt) and c["tokens_per_s"] > 0
