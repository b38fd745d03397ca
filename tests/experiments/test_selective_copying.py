"""Selective-copying experiment: a tiny run writes its figure and computes its verdicts from the numbers."""

import pytest

from ssmlab.experiments import get
from ssmlab.experiments.selective_copying import SelectiveCopyingConfig, _claims, run
from ssmlab.experiments.verdicts import above


def _tiny(**kw):
    return SelectiveCopyingConfig(**({"seq_len": 8, "num_tokens": 2, "vocab_size": 4, "d_model": 4, "depth": 1,
                                      "state_size": 2, "batch_size": 4, "steps": 3, "eval_size": 8, "evals": 2} | kw))


def test_tiny_run(tmp_path):
    res = run(_tiny(layers=("mamba", "not_a_layer")), tmp_path)
    assert (tmp_path / "selective_copying.png").stat().st_size > 0
    r = res.metrics["results"]["selective_copying"]["mamba"]
    assert r["selective"] and r["steps"] == [1, 3] and len(r["accuracy"]) == 2
    assert r["final_accuracy"] * 16 == round(r["final_accuracy"] * 16)  # 8 sequences x 2 answer tokens
    assert res.claims[0].verdict == above(r["final_accuracy"], 0.9, 0.5)
    assert res.metrics["missing_layers"] == ["not_a_layer"] and res.claims[-1].verdict == "info"


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
        assert r["mamba"]["selective"] and not r["s4d"]["selective"] and len(r["s4d"]["accuracy"]) == 2
    assert len(res.claims) == 6 and (tmp_path / "selective_copying.png").stat().st_size > 0


def test_registered_and_config_checks():
    exp = get("selective-copying")
    assert exp.quick.seq_len < exp.full.seq_len == 4096 and exp.full.num_tokens == 16 and exp.full.vocab_size == 16
    with pytest.raises(ValueError, match="num_tokens"):
        SelectiveCopyingConfig(seq_len=4, num_tokens=5)
    with pytest.raises(ValueError, match="tasks"):
        SelectiveCopyingConfig(tasks=("copying",))
