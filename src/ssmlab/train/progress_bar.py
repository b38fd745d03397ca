"""Training progress: a live bar on a terminal, plain log lines when stdout is not one.

On a terminal (stderr) a rich bar shows steps, loss and throughput. When stdout is not a terminal
(a batch system, `nohup`, a pipe or a file) the same information goes to stdout as one plain,
flushed line every `print_every` steps and one per epoch with the evaluation results:

    step 40/120 epoch 1/3 loss 0.6931 acc 0.5312 1520 ex/s elapsed 0:00:03 eta 0:00:06
    epoch 1/3 step 40/120 train_loss 0.6810 val_accuracy 0.5500 test_accuracy 0.5400 elapsed 0:00:04 eta 0:00:08

Throughput and ETA exclude the first step of this process (compilation).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..progress import console

AUTO_LINES = 20  # print_every = 0: about this many step lines per run


def _clock(seconds: float) -> str:
    s = max(int(round(seconds)), 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):  # closed or detached stream
        return False


class TrainProgress:
    """Context manager: `update(loss=, examples=, accuracy=)` after each step, `epoch(record)` after each epoch.

    `throughput` is examples/s since the first step of this process.
    """

    def __init__(self, *, total: int, start: int = 0, enabled: bool = True, steps_per_epoch: int = 0,
                 print_every: int = 0, stream: Any = None, elapsed_before: float = 0.0):
        """Bar over `total` steps from `start` (terminal only); plain lines to `stream` (stdout) if it is no tty."""
        self.enabled = enabled and console.is_terminal
        self.stream = sys.stdout if stream is None else stream
        self.lines = enabled and not _is_terminal(self.stream)
        self.total, self.step, self.steps_per_epoch = total, start, steps_per_epoch
        self.print_every = print_every if print_every > 0 else max(1, total // AUTO_LINES)
        self.elapsed_before = elapsed_before
        self._progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("loss {task.fields[loss]:.4f}  {task.fields[rate]:.0f} ex/s"),
                                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
                                  disable=not self.enabled)
        self._task = self._progress.add_task("train", total=total, completed=start, loss=float("nan"), rate=0.0)
        self._started = time.perf_counter()
        self._t0: float | None = None
        self._examples = self._timed_steps = 0
        self.throughput = 0.0

    def __enter__(self) -> TrainProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def update(self, *, loss: float, examples: int, accuracy=None) -> None:
        """Advance one step; the first step (compilation) is excluded from the throughput.

        `accuracy` (a float or a device scalar) is converted only on the steps that print a line."""
        now = time.perf_counter()
        self.step += 1
        if self._t0 is None:
            self._t0 = now
        else:
            self._examples += examples
            self._timed_steps += 1
            self.throughput = self._examples / max(now - self._t0, 1e-9)
        self._progress.update(self._task, advance=1, loss=loss, rate=self.throughput)
        if self.lines and (self.step % self.print_every == 0 or self.step == self.total):
            acc = "" if accuracy is None else f" acc {float(accuracy):.4f}"  # a device scalar: read only here
            self._print(f"step {self.step}/{self.total}{self._epoch_of_step()} loss {loss:.4f}{acc} "
                        f"{self.throughput:.0f} ex/s {self._times()}")

    def epoch(self, record: dict, epochs: int) -> None:
        """One plain line for an epoch record of the training loop (when printing lines)."""
        if not self.lines:
            return
        fields = " ".join(f"{k} {v:.4f}" for k, v in record.items() if k.endswith(("loss", "accuracy")))
        self._print(f"epoch {record['epoch']}/{epochs} step {record['step']}/{self.total} {fields} {self._times()}")

    def _epoch_of_step(self) -> str:
        if self.steps_per_epoch < 1:
            return ""
        epochs = -(-self.total // self.steps_per_epoch)
        return f" epoch {min(self.step // self.steps_per_epoch + 1, epochs)}/{epochs}"

    def _times(self) -> str:
        now = time.perf_counter()
        text = f"elapsed {_clock(self.elapsed_before + now - self._started)}"
        if self._timed_steps and self._t0 is not None:
            rate = self._timed_steps / max(now - self._t0, 1e-9)
            text += f" eta {_clock((self.total - self.step) / rate)}"
        return text

    def _print(self, line: str) -> None:
        try:
            print(line, file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed pipe must not stop training
            self.lines = False
