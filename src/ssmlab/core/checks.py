"""Input validation that names the offending argument and the fix.

Checks on shapes and sizes run at trace time (Python ints). Checks on values (NaN, |a| >= 1)
run on concrete arrays only; under `jit` they are skipped by `is_concrete`, and callers that
need them inside compiled code use `equinox.error_if`.
"""

from __future__ import annotations

import jax
import numpy as np


def is_concrete(x) -> bool:
    """True when `x` holds real values (not a tracer inside jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def check_rank(name: str, x, ranks: tuple[int, ...], meaning: str) -> None:
    """Raise ValueError unless `x.ndim` is one of `ranks`."""
    if x.ndim not in ranks:
        raise ValueError(
            f"{name} must have rank {' or '.join(map(str, ranks))} ({meaning}); got shape {tuple(x.shape)}."
        )


def check_length(name: str, length: int) -> None:
    """Sequence lengths must be positive Python ints."""
    if not isinstance(length, (int, np.integer)) or isinstance(length, bool) or length < 1:
        raise ValueError(f"{name} must be a positive integer sequence length; got {length!r}.")


def check_finite(name: str, x) -> None:
    """Raise ValueError if a concrete array holds NaN or inf."""
    if is_concrete(x):
        arr = np.asarray(x)
        if arr.size and not np.all(np.isfinite(arr)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ValueError(f"{name} contains {bad} NaN/inf values; clean or mask the data before use.")


def check_stable(name: str, a) -> None:
    """Raise ValueError if a concrete diagonal state matrix has an entry with |a| >= 1."""
    if is_concrete(a):
        mags = np.abs(np.asarray(a))
        if mags.size and mags.max() >= 1.0:
            raise ValueError(
                f"{name} must be strictly stable (|a| < 1) for frequency-domain formulas; "
                f"max |a| = {mags.max():.6g}. Rescale the eigenvalues inside the unit disc, "
                "or use the recurrent/convolution evaluation, which does not assume stability."
            )
