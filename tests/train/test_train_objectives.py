"""The shared loop trains per-step tasks through their objectives: a tiny char LM and the LDS regression."""

import json
import math

import pytest

from ssmlab.data import make_task
from ssmlab.layers import LRUSpec
from ssmlab.train.checkpoint import check_run_header
from ssmlab.train.config import TrainConfig
from ssmlab.train.loop import train


def _cfg(task, **kw):
    base = dict(task=task, layer=LRUSpec(state_size=8), depth=1, d_model=16, batch_size=8, epochs=3, lr=1e-2,
                warmup_frac=0.0, progress=False, log_every=1)
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def lm_task(tmp_path_factory):
    root = tmp_path_factory.mktemp("tinycorpus")
    for i in range(12):
        (root / f"m{i}.py").write_text("def f(x):\n    return x + 1\n" * (6 + i))
    return make_task("lm-chars", root=str(root), seq_len=16, val_fraction=0.25, test_fraction=0.25, max_windows=24)


@pytest.mark.slow  # ~10-20 s on 2 shared cores; objectives are unit-tested in test_objectives.py
def test_tiny_char_lm_learns_and_reports_lm_metrics(tmp_path, lm_task):
    res = train(_cfg("lm-chars", lr=3e-2, epochs=4), tmp_path, task=lm_task)
    steps = [r for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())
             if r.get("event") == "step"]
    assert steps[0]["loss"] > 0.9 * math.log(256)  # a fresh model is near uniform over bytes
    assert steps[-1]["loss"] < 0.6 * steps[0]["loss"]
    last = res.history[-1]
    assert last["val_loss"] < 0.6 * math.log(256)
    assert last["val_perplexity"] == pytest.approx(math.exp(last["val_loss"]), rel=1e-9)
    assert last["val_bits_per_token"] == pytest.approx(last["val_loss"] / math.log(2), rel=1e-9)
    assert 0 <= res.summary["test_accuracy"] <= 1 and "test_loss" not in last  # test read once, at the end
    assert res.summary["objective"] == "next_token"
    assert res.summary["best_loss"] == min(h["val_loss"] for h in res.history)
    from ssmlab.train.load import load_run  # the public loader accepts a run whose best score is a negated loss

    for which in ("best", "last"):
        assert load_run(tmp_path, which).config.task == "lm-chars"


@pytest.mark.slow
def test_lds_regression_trains_and_selects_best_by_validation_mse(tmp_path):
    task = make_task("lds-regression", seq_len=16, num_train=16, num_val=8, num_test=8)
    res = train(_cfg("lds-regression", epochs=4), tmp_path, task=task)
    hist = res.history
    assert {"val_mse", "val_nmse"} <= set(hist[-1]) and {"test_mse", "test_nmse"} <= set(res.summary)
    assert hist[-1]["val_nmse"] < hist[0]["val_nmse"]
    assert res.summary["best_loss"] == min(h["val_loss"] for h in hist) and "best_accuracy" not in res.summary


def test_run_header_best_score_follows_the_objective(tmp_path):
    hist = [{"event": "epoch", "epoch": 1, "step": 2, "train_loss": 1.0, "val_loss": 0.5},
            {"event": "epoch", "epoch": 2, "step": 4, "train_loss": 0.8, "val_loss": 0.7}]
    header = {"step": 4, "epoch": 2, "batch_index": 0, "seed": 0, "rng_key_data": [0, 0], "history": hist,
              "best": -0.5, "train_loss_sum": 1.6, "wall_s": 1.0}
    kw = dict(steps_per_epoch=2, total_steps=4, seed=0, key_data=[0, 0])
    check_run_header(header, tmp_path, score_metric="loss", higher_is_better=False, **kw)
    with pytest.raises(ValueError, match="not the best loss score"):
        check_run_header(header | {"best": -0.7}, tmp_path, score_metric="loss", higher_is_better=False, **kw)


@pytest.mark.slow
def test_lm_run_resumes_to_the_uninterrupted_run(tmp_path, lm_task):
    import jax
    import numpy as np

    cfg = _cfg("lm-chars", epochs=2, dropout=0.1)
    full = train(cfg, tmp_path / "full", task=lm_task)
    per_epoch = full.summary["steps"] // 2
    part = train(cfg, tmp_path / "part", task=lm_task, callback=lambda step, loss: step == per_epoch + 1)
    assert not part.finished
    resumed = train(cfg, tmp_path / "part", task=lm_task, resume=True)  # the header's best is a negated loss
    assert resumed.finished and resumed.summary["best_loss"] == full.summary["best_loss"]
    for a, b in zip(jax.tree.leaves(full.model), jax.tree.leaves(resumed.model), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert [h["val_loss"] for h in full.history] == [h["val_loss"] for h in resumed.history]
