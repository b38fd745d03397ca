"""Every verdict rule can fail: a failing (synthetic) metric input for each, no experiment is rerun."""

import math

import numpy as np
import pytest

from ssmlab.experiments import (
    depth_construction,
    depth_training,
    get,
    ld_multilayer,
    ld_nsweep,
    lds_filters,
    lds_study,
    stu_theory,
)
from ssmlab.experiments.verdicts import above, below, plateau_after_decay

KS = [1, 2, 4, 8, 16, 32]


@pytest.mark.parametrize(("value", "want"), [(0.5, "pass"), (1.5, "partial"), (3.0, "fail"), (math.nan, "fail"),
                                             (math.inf, "fail"), (-math.inf, "pass")])
def test_below(value, want):
    assert below(value, 1.0, 2.0) == want


@pytest.mark.parametrize(("value", "want"), [(11.0, "pass"), (3.0, "partial"), (1.0, "fail"), (math.nan, "fail"),
                                             (math.inf, "pass"), (-math.inf, "fail")])
def test_above(value, want):
    assert above(value, 10.0, 2.0) == want
    assert above(value, 10.0) == ("fail" if want == "partial" else want)


def test_plateau_after_decay_needs_the_decay():
    assert plateau_after_decay("fail", True) == "fail"
    assert plateau_after_decay("pass", False) == "fail"
    assert plateau_after_decay("partial", True) == "partial"
    assert plateau_after_decay("pass", True) == "pass"


def test_lds_filters_flat_curve_fails_decay_and_plateau():
    """Issue 20: a curve that never decayed used to pass "plateaus for K >= 15"."""
    flat = np.full(len(KS), 0.3)
    decay, factor = lds_filters._decay_claim(KS, flat, "trained")
    assert decay.verdict == "fail" and factor == pytest.approx(1.0)
    plateau, gain = lds_filters._plateau_claim(KS, flat, None, decay.verdict)
    assert gain == pytest.approx(1.0) and plateau.verdict == "fail" and "no decay" in plateau.ours
    decaying = np.array([1.0, 0.1, 1e-2, 1e-3, 1e-3, 1e-3])
    good, _ = lds_filters._decay_claim(KS, decaying, "trained")
    assert good.verdict == "pass"
    assert lds_filters._plateau_claim(KS, decaying, None, good.verdict)[0].verdict == "pass"
    still_falling = np.array([1.0, 0.1, 1e-2, 1e-3, 1e-4, 1e-6])  # decays, but no plateau after K = 16
    assert lds_filters._plateau_claim(KS, still_falling, None, good.verdict)[0].verdict == "fail"
    assert lds_filters._decay_claim(KS, np.full(len(KS), np.nan), "trained")[0].verdict == "fail"


def test_stu_theory_rules():
    assert not stu_theory._decayed(1.0, -0.5, 0.99, 4)  # too few decades
    assert not stu_theory._decayed(6.0, 0.5, 0.99, 4)  # rising
    assert not stu_theory._decayed(6.0, -0.5, 0.3, 4)  # not log-linear
    assert stu_theory._decayed(6.0, -0.5, 0.99, 4)
    assert stu_theory._plateau_verdict(False, 1.0, 1.0) == "fail"  # flat from the start: no plateau
    assert stu_theory._plateau_verdict(True, 1e-3, 1e-3) == "fail"  # keeps falling
    assert stu_theory._plateau_verdict(True, 1e-3, 0.5) == "partial"
    assert stu_theory._plateau_verdict(True, 0.5, 0.5) == "pass"


def test_ld_multilayer_longer_plateau_rule():
    assert ld_multilayer._longer_plateau_verdict([40]) == "fail"  # one depth: nothing to compare
    assert ld_multilayer._longer_plateau_verdict([40, 30, 50]) == "fail"
    assert ld_multilayer._longer_plateau_verdict([-1, -1]) == "fail"
    assert ld_multilayer._longer_plateau_verdict([10, -1, 30]) == "fail"
    assert ld_multilayer._longer_plateau_verdict([10, 20, -1]) == "partial"
    assert ld_multilayer._longer_plateau_verdict([10, 20, 30]) == "pass"


def test_depth_rules():
    assert depth_training._equivalence_verdict(0, 0, 0) == "fail"  # no K > 1 pair: not a vacuous pass
    assert depth_training._equivalence_verdict(4, 2, 1) == "fail"
    assert depth_training._equivalence_verdict(4, 2, 0) == "partial"
    assert depth_training._equivalence_verdict(4, 0, 0) == "pass"
    assert depth_construction._compression_verdict(3.0, 3.0) == "fail"
    assert depth_construction._compression_verdict(math.nan, 1.0) == "fail"
    assert depth_construction._compression_verdict(math.inf, math.inf) == "fail"
    assert depth_construction._compression_verdict(5.0, 3.0) == "partial"
    assert depth_construction._compression_verdict(100.0, 3.0) == "pass"


def test_ld_nsweep_rule():
    assert ld_nsweep._verdict(False, True) == "fail"
    assert ld_nsweep._verdict(True, False) == "partial"
    assert ld_nsweep._verdict(True, True) == "pass"


def test_lds_study_rules():
    assert lds_study._ratio_claim(math.inf, 100.0, 1000).verdict == "fail"  # STU never reached it
    assert lds_study._ratio_claim(100.0, 110.0, 1000).verdict == "fail"  # ratio 1.1
    assert lds_study._ratio_claim(100.0, 800.0, 1000).verdict == "pass"
    assert lds_study._ratio_claim(400.0, math.inf, 1000).verdict == "partial"  # LRU never: > 2.5x only
    assert lds_study._ratio_claim(600.0, math.inf, 1000).verdict == "fail"  # > 1.7x only
    runs = {"lr": {i: {"stable": True, "learns": False} for i in range(4)}}
    good = {"lr": {i: {"stable": True, "learns": True} for i in range(4)}}
    assert lds_study._lr_claim(runs, good).verdict == "fail"
    assert lds_study._lr_claim(good, runs).verdict == "pass"
    assert lds_study._plateau_claim(0.0, 0.0).verdict == "fail"  # neither flat
    assert lds_study._plateau_claim(0.3, 0.5).verdict == "fail"  # LRU not flatter than the STU
    assert lds_study._plateau_claim(0.1, 0.5).verdict == "pass"
    (abl,) = lds_study._ablation_claims({"no-norm": {"best_eval_nmse": 0.01}}, 0.01)
    assert abl.verdict == "fail"  # the ablation learned as well as the LRU


def test_digits_full_preset_can_fail():
    assert get("digits").full.below_target_verdict == "fail"
