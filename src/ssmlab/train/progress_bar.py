"""Training progress bar (rich, on stderr): steps, loss and throughput in examples per second."""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..progress import console


class TrainProgress:
    """Context manager: `update(loss=, examples=)` after each step; `throughput` is examples/s since step 2."""

    def __init__(self, *, total: int, start: int = 0, enabled: bool = True):
        """A bar over `total` steps starting at `start`; hidden when disabled or not on a terminal."""
        self.enabled = enabled and console.is_terminal
        self._progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("loss {task.fields[loss]:.4f}  {task.fields[rate]:.0f} ex/s"),
                                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
                                  disable=not self.enabled)
        self._task = self._progress.add_task("train", total=total, completed=start, loss=float("nan"), rate=0.0)
        self._t0: float | None = None
        self._examples = 0
        self.throughput = 0.0

    def __enter__(self) -> TrainProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def update(self, *, loss: float, examples: int) -> None:
        """Advance one step; the first step (compilation) is excluded from the throughput."""
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        else:
            self._examples += examples
            self.throughput = self._examples / max(now - self._t0, 1e-9)
        self._progress.update(self._task, advance=1, loss=loss, rate=self.throughput)
