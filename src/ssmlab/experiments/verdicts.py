"""Verdict rules shared by the experiments: each maps metric values to pass / partial / fail.

Every rule must be able to fail: a non-finite metric (NaN from a diverged run, inf from a threshold
never reached) fails, and a claim about the shape of a curve after a change (a plateau after a
decay, longer plateaus for deeper stacks) fails when the change itself is absent or when there are
too few points to compare. tests/experiments/test_verdicts.py gives a failing input for each rule.
"""

from __future__ import annotations

import math
from typing import SupportsFloat


def below(value: SupportsFloat, pass_below: SupportsFloat, partial_below: SupportsFloat | None = None) -> str:
    """"pass" if value < pass_below, "partial" if value < partial_below, else "fail" (NaN fails)."""
    value, pass_below = float(value), float(pass_below)
    if not math.isfinite(value) and value != -math.inf:
        return "fail"
    if value < pass_below:
        return "pass"
    return "partial" if partial_below is not None and value < float(partial_below) else "fail"


def above(value: SupportsFloat, pass_above: SupportsFloat, partial_above: SupportsFloat | None = None) -> str:
    """"pass" if value > pass_above, "partial" if value > partial_above, else "fail" (NaN fails)."""
    partial = None if partial_above is None else -float(partial_above)
    return below(-float(value), -float(pass_above), partial)


def plateau_after_decay(decay_verdict: str, plateau_ok: bool) -> str:
    """A plateau counts only after the curve decayed: a flat curve that never fell is a fail, not a plateau."""
    if decay_verdict == "fail":
        return "fail"
    return decay_verdict if plateau_ok else "fail"
