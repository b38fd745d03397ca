"""Figure helpers shared by experiments (headless matplotlib, PNG out)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .._atomic import atomic_open  # noqa: E402


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.6):
    """A figure with an nrows x ncols grid of axes (always a 2-D array of axes)."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes


def save(fig, path: Path) -> Path:
    """Save a figure as PNG (atomically) and close it."""
    fig.tight_layout()
    with atomic_open(path) as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
    return path
