"""Atomic file writes: a temporary file in the target folder, flushed and fsynced, then renamed over
the target with `os.replace`, so a crash or a concurrent reader sees the old file or the new one,
never a partial write. The temporary file is removed if writing fails.

`mkstemp` creates its file with mode 0600; the final file gets `0o666 & ~umask` instead, as an
ordinary `open(path, "w")` would, so results on a shared machine are readable by the group.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ._killpoint import kill_point

_TEMP_TAIL = r"\.[a-z0-9_]{8}\.tmp"  # what mkstemp adds to the target's name (8 random characters)


def _umask() -> int:
    """The process umask: from /proc on Linux (no side effect), else set and restored at once (no getter)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a binary handle whose contents replace `path` only when the block exits without error."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        kill_point("write:" + path.name)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_savez(path: str | os.PathLike, **arrays) -> Path:
    """`np.savez(path, **arrays)`, written atomically."""
    with atomic_open(path) as fh:
        np.savez(fh, **arrays)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    with atomic_open(path) as fh:
        fh.write(text.encode("utf-8"))
    return Path(path)


def remove_stale_temps(folder: str | os.PathLike, names: tuple[str, ...]) -> list[Path]:
    """Delete the temporary files that killed `atomic_open` writers of `folder/NAME` left behind.

    Only names of the exact form `NAME.XXXXXXXX.tmp` (the pattern `atomic_open` creates) for the
    given target `names` are removed; call this only while no other process writes those targets.
    Returns the removed paths."""
    pattern = re.compile("(" + "|".join(re.escape(n) for n in names) + ")" + _TEMP_TAIL)
    removed = []
    for path in sorted(Path(folder).glob("*.tmp")):
        if pattern.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def remove_abandoned_temps(folder: str | os.PathLike, target: str, *, older_than_s: float) -> list[Path]:
    """Delete `atomic_open` temporary files of targets matching the regex `target` that outlived their writer.

    For a folder that several processes write at once (a shared cache), where `remove_stale_temps` would
    delete a live writer's file. A writer's temporary file `NAME.XXXXXXXX.tmp` exists only between its
    creation and its rename, and its mtime advances while it is written; one not modified for
    `older_than_s` seconds is taken as left by a killed writer. Names that do not have that exact form
    (or whose NAME does not fully match `target`) are kept. Returns the removed paths."""
    if older_than_s < 0:
        raise ValueError(f"older_than_s must be >= 0; got {older_than_s}.")
    pattern = re.compile("(?:" + target + ")" + _TEMP_TAIL)
    folder = Path(folder)
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than_s
    removed = []
    for path in sorted(folder.glob("*.tmp")):
        if not pattern.fullmatch(path.name):
            continue
        try:
            st = path.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # renamed or removed meanwhile by its writer or another cleaner
            continue
    return removed
