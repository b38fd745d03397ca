"""Selective-copying experiment: a tiny run, its figure drawn from the metrics, verdicts computed from the numbers."""

import json

import numpy as np
import pytest

from ssmlab.experiments import get
from ssmlab.experiments.selective_copying import SelectiveCopyingConfig, _claims, _data, plot, run
from ssmlab.experiments.verdicts import above


def _tiny(**kw):
    return SelectiveCopyingConfig(**({"seq_len": 8, "num_tokens": 2, "vocab_size": 4, "d_model": 4, "depth": 1,
                                      "state_size": 2, "batch_size": 4, "steps": 4, "eval_size": 8, "evals": 2} | kw))


def test_tiny_run(tmp_path):
    res = run(_tiny(layers=("mamba", "not_a_layer")), tmp_path)
    [fig] = plot(json.loads(json.dumps(res.metrics)), tmp_path)  # from the metrics as metrics.json holds them
    assert fig == tmp_path / "selective_copying.png" and fig.stat().st_size > 0
    r = res.metrics["results"]["selective_copying"]["mamba"]
    assert r["selective"] and r["steps"] == [0, 2, 4] and len(r["accuracy"]) == 3
    assert r["final_accuracy"] * 16 == round(r["final_accuracy"] * 16)  # 8 sequences x 2 answer tokens
    assert res.claims[0].verdict == above(r["final_accuracy"], 0.9, 0.5)
    assert res.metrics["missing_layers"] == ["not_a_layer"] and res.claims[-1].verdict == "info"


def test_answer_targets_and_mask():
    cfg = _tiny()
    batch = _data("selective_copying", cfg, np.random.default_rng(0), 3)
    x, y, mask = batch["x"], batch["y"], batch["mask"]
    assert x.shape == y.shape == mask.shape == (3, 10) and mask[:, -2:].all() and not mask[:, :-2].any()
    for b in range(3):  # the answers are the content tokens in order of position, as class ids 0..vocab-1
        content = x[b, :8][x[b, :8] >= 2]
        np.testing.assert_array_equal(y[b, -2:], content - 2)
    heads = _data("induction_heads", cfg, np.random.default_rng(1), 2)
    assert heads["mask"][:, -1].all() and heads["mask"].sum() == 2


def test_claims_follow_the_numbers():
    cfg = _tiny()

    def res(mamba, s4d, lru):
        return {"mamba": {"final_accuracy": mamba, "selective": True},
                "s4d": {"final_accuracy": s4d, "selective": False}, "lru": {"final_accuracy": lru, "selective": False}}

    ok = _claims("selective_copying", res(0.95, 0.3, 0.4), cfg)
    assert [c.verdict for c in ok] == ["pass", "pass", "pass", "pass"]
    assert "lru" in ok[-1].ours and "+55.0%" in ok[-1].ours
    bad = _claims("selective_copying", res(0.4, 0.92, 0.3), cfg)  # chance 25%: 0.4 is below 2 x chance
    assert [c.verdict for c in bad] == ["fail", "fail", "pass", "fail"]
    mid = _claims("induction_heads", res(0.6, 0.5, 0.5), cfg)
    assert [c.verdict for c in mid] == ["partial", "pass", "pass", "partial"]
    assert _claims("selective_copying", res(float("nan"), 0.3, 0.3), cfg)[0].verdict == "fail"


@pytest.mark.slow
def test_two_tasks_two_layers(tmp_path):
    cfg = _tiny(layers=("mamba", "s4d"), tasks=("selective_copying", "induction_heads"))
    res = run(cfg, tmp_path)
    for task in cfg.tasks:
        r = res.metrics["results"][task]
        assert r["mamba"]["selective"] and not r["s4d"]["selective"] and len(r["s4d"]["accuracy"]) == 3
    assert len(res.claims) == 6 and plot(res.metrics, tmp_path)[0].stat().st_size > 0


def test_registered_and_config_checks():
    exp = get("selective-copying")
    assert exp.quick.seq_len < exp.full.seq_len == 4096 and exp.full.num_tokens == 16 and exp.full.vocab_size == 16
    with pytest.raises(ValueError, match="num_tokens"):
        SelectiveCopyingConfig(seq_len=4, num_tokens=5)
    with pytest.raises(ValueError, match="tasks"):
        SelectiveCopyingConfig(tasks=("copying",))
    with pytest.raises(ValueError, match="multiple of evals"):
        SelectiveCopyingConfig(steps=10, evals=3)
