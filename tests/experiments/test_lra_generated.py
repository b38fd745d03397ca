"""The generated-LRA evidence experiment: baseline rule, frozen STU filters, and a tiny end-to-end run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ssmlab.data.dataset import ArrayDataset, Task
from ssmlab.experiments.lra_generated import LRAGeneratedConfig, baseline, run


def _task(train_y, test_y, classes):
    x = np.zeros((len(train_y), 4), np.int32)
    xt = np.zeros((len(test_y), 4), np.int32)
    return Task(name="t", train=ArrayDataset(x, np.asarray(train_y)), test=ArrayDataset(xt, np.asarray(test_y)),
                input_kind="tokens", num_classes=classes, seq_len=4, vocab_size=5)


def test_baseline_is_the_best_constant_guess():
    assert baseline(_task([0, 1, 2, 3], [0, 1, 2, 3], 10)) == pytest.approx(0.25)  # tie -> label 0, 1 of 4
    # Train majority 2; it covers 3 of 4 test labels -> 0.75 beats 1/C.
    assert baseline(_task([2, 2, 1], [2, 2, 2, 0], 10)) == pytest.approx(0.75)
    # A rare train majority falls back to 1/C.
    assert baseline(_task([3, 3, 1], [0, 1, 2, 4, 5, 6, 7, 8, 9, 9, 9, 9], 10)) == pytest.approx(0.1)


@pytest.mark.slow
def test_tiny_run_writes_figure_and_computes_verdicts(tmp_path):
    cfg = dataclasses.replace(LRAGeneratedConfig(), tasks=("listops", "pathfinder"), listops_train=64,
                              listops_test=40, listops_max_length=30,
                              pathfinder_train=16, pathfinder_test=8, depth=1, d_model=8, num_filters=2,
                              state_size=4, batch_size=8, steps=4, eval_points=2)
    res = run(cfg, tmp_path)
    assert (tmp_path / "lra_generated_learning_curves.png").is_file() and res.figures
    assert len(res.claims) == 4 and all(c.verdict in ("pass", "fail") for c in res.claims)
    for name in ("listops", "pathfinder"):
        for model in ("ar_stu", "lru"):
            m = res.metrics[name][model]
            assert len(m["losses"]) >= cfg.steps and len(m["test_acc"]) >= 1 and 0 <= m["final_acc"] <= 1
            z_pass = m["final_acc"] - res.metrics[name]["baseline"] > 2.33 * np.sqrt(
                res.metrics[name]["baseline"] * (1 - res.metrics[name]["baseline"]) / (40 if name == "listops" else 8))
            verdict = next(c.verdict for c in res.claims if c.claim.startswith(f"{model} learns generated {name}"))
            assert verdict == ("pass" if z_pass else "fail")
