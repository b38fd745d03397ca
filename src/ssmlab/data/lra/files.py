"""Where LRA data lives on disk, and the errors raised when it is missing or malformed.

The data directory is resolved as: explicit `data_dir` (CLI `--data-dir`), then `$SSMLAB_DATA`,
then `$XDG_DATA_HOME/ssmlab`, else `~/.local/share/ssmlab`. The LRA archive unpacks to
`lra_release/` and some scripts nest it once more (`lra_release/lra_release/`), so every task
looks in `<root>`, `<root>/lra_release` and `<root>/lra_release/lra_release`. Nothing is downloaded.

Preprocessed arrays can be cached as `.npz` beside the data (`cached_arrays`): the cache key
hashes the source files' sizes and mtimes plus the preprocessing options, and the file is
written to a temporary name and renamed so a crash never leaves a half-written cache. A loader
whose stored arrays change (e.g. adding padding lengths) puts a new `format` number into the
options, so an older cache file is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..._atomic import atomic_savez

GENERATE_HINT = ("synthetic stand-ins: `ssmlab data generate listops|pathfinder --data-dir DIR` "
                 "(Python: `ssmlab.data.listops_gen.write_listops` / "
                 "`ssmlab.data.pathfinder_gen.write_pathfinder`)")


class DataNotFoundError(FileNotFoundError):
    """A task's files are not where they should be; the message lists every path tried and the layout."""


class DataFormatError(ValueError):
    """A data file exists but does not have the expected format; the message names file, record and fix."""


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: `data_dir`, else `$SSMLAB_DATA`, else `$XDG_DATA_HOME/ssmlab`, else ~/.local/share/ssmlab."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("SSMLAB_DATA"):
        return Path(os.environ["SSMLAB_DATA"]).expanduser()
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]).expanduser() / "ssmlab"
    return Path.home() / ".local" / "share" / "ssmlab"


def search_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """`<root>`, `<root>/lra_release`, `<root>/lra_release/lra_release` (both archive layouts are accepted)."""
    root = data_root(data_dir)
    return [root, root / "lra_release", root / "lra_release" / "lra_release"]


def locate(task: str, relative: str, layout: str, data_dir: str | os.PathLike | None = None,
           *, generate_hint: bool = False) -> Path:
    """The first existing `<search root>/<relative>`, else a `DataNotFoundError` naming every path tried."""
    tried = [r / relative for r in search_roots(data_dir)]
    for path in tried:
        if path.exists():
            return path
    lines = "\n".join(f"  - {p}" for p in tried)
    hint = f"\nFor {GENERATE_HINT}." if generate_hint else ""
    raise DataNotFoundError(
        f"{task}: data not found. Tried:\n{lines}\nExpected layout: {layout}\n"
        f"Point `data_dir=` (CLI --data-dir) or $SSMLAB_DATA at the directory holding it; nothing is downloaded."
        f"{hint}")


def require_file(task: str, path: Path, what: str) -> Path:
    """`path` if it is a file, else a `DataNotFoundError` saying what the file should contain."""
    if not path.is_file():
        raise DataNotFoundError(f"{task}: missing file {path} ({what}).")
    return path


def read_text_lines(path: Path, task: str) -> list[str]:
    """Lines of a UTF-8 text file; invalid UTF-8 is a `DataFormatError` naming the byte offset."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{task}: {path} is not valid UTF-8 (byte {err.start}: {err.reason}); "
                              f"expected a UTF-8 text file.") from err
    return text.splitlines()


def split_indices(num: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Disjoint index sets covering range(num): a seeded permutation cut by `fractions` (last part takes the rest)."""
    if any(f < 0 for f in fractions) or sum(fractions) > 1 + 1e-12:
        raise ValueError(f"fractions must be >= 0 and sum to <= 1; got {fractions}.")
    perm = np.random.default_rng(seed).permutation(num)
    cuts = np.floor(np.cumsum(fractions[:-1]) * num).astype(int)
    return [np.sort(p) for p in np.split(perm, cuts)]


def _fingerprint(sources: Iterable[Path], options: dict) -> str:
    h = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    for src in sorted(Path(s) for s in sources):
        st = src.stat()
        h.update(f"{src}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def cached_arrays(cache_dir: Path | None, name: str, sources: Iterable[Path], options: dict,
                  build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """`build()` cached as `<cache_dir>/<name>-<hash of sources and options>.npz` (write, then rename).

    `cache_dir=None` disables caching. A cache that cannot be written (read-only data) is skipped.
    """
    if cache_dir is None:
        return build()
    sources = list(sources)
    path = Path(cache_dir) / f"{name}-{_fingerprint(sources, options)}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    arrays = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_savez(path, **arrays)
    except OSError:
        pass
    return arrays
