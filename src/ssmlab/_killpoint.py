"""Test hook: a process that kills itself with SIGKILL at a named point, to test crash recovery.

`SSMLAB_KILL_AT="NAME:N"` makes the N-th call of `kill_point(NAME)` in this process send SIGKILL to
the process itself, so a test can stop a real training run at an exact moment (inside an atomic
write, right after a given checkpoint) and check what a resume makes of the files left behind.
Unset (the normal case), `kill_point` only reads one environment variable.

Points: "write:FILE" (an atomic write of FILE has its temporary file written and fsynced, not yet
renamed into place) and "saved:FILE@STEP" (FILE was saved by the training loop at step STEP).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "SSMLAB_KILL_AT"
_hits: Counter = Counter()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_point(name: str) -> None:
    """SIGKILL this process at the N-th call with `name` when SSMLAB_KILL_AT is "name:N"."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, count = spec.rpartition(":")
    if target != name:
        return
    _hits[spec] += 1
    if str(_hits[spec]) == count.strip():
        _die()
