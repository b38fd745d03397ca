"""Where LRA data lives on disk, and the errors raised when it is missing or malformed.

The data directory is resolved as: explicit `data_dir` (CLI `--data-dir`), then `$SSMLAB_DATA`,
then `$XDG_DATA_HOME/ssmlab`, else `~/.local/share/ssmlab`. The LRA archive unpacks to
`lra_release/` and some scripts nest it once more (`lra_release/lra_release/`), so every task
looks in `<root>`, `<root>/lra_release` and `<root>/lra_release/lra_release`. Nothing is downloaded.

Preprocessed arrays can be cached as `.npz` beside the data (`cached_arrays`). The cache key
hashes the preprocessing options and, for every source file the arrays were built from (each
image of Pathfinder, each review of Text, not only an index file), its path, size, `st_mtime_ns`
and `st_ctime_ns`. Rewriting or replacing a file changes its ctime even when the writer sets the
mtime back (`cp -p`, `touch -r`), so the stale cache is not found; contents are not hashed (that
would read every source file at each load). The file is written to a temporary name and renamed,
so a crash never leaves a half-written cache, and it stores a SHA-256 digest of its arrays and
key. A cache file that cannot be read or fails the digest (truncated, garbage, edited) is
reported with a `DataCacheWarning`, rebuilt and overwritten, never used. Temporary files of
killed cache writers older than `STALE_TEMP_AGE_S` are deleted. A loader whose stored arrays
change (e.g. adding padding lengths) puts a new `format` number into the options, so an older
cache file is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..._atomic import atomic_savez, remove_abandoned_temps

GENERATE_HINT = ("synthetic stand-ins: `ssmlab data generate listops|pathfinder --data-dir DIR` "
                 "(Python: `ssmlab.data.listops_gen.write_listops` / "
                 "`ssmlab.data.pathfinder_gen.write_pathfinder`)")


class DataNotFoundError(FileNotFoundError):
    """A task's files are not where they should be; the message lists every path tried and the layout."""


class DataFormatError(ValueError):
    """A data file exists but does not have the expected format; the message names file, record and fix."""


class DataCacheWarning(UserWarning):
    """A preprocessing cache file was unreadable or inconsistent and has been rebuilt."""


STALE_TEMP_AGE_S = 3600.0  # a cache writer's temporary file not modified for this long has lost its writer
_DIGEST_KEY = "__ssmlab_sha256__"


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
        h.update(f"{src}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}\n".encode())
    return h.hexdigest()[:16]


def _arrays_digest(key: str, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(key.encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"|{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _read_cache(path: Path, key: str) -> dict[str, np.ndarray]:
    """The arrays of one cache file; ValueError (or an I/O / zip error) if it is not a complete, intact one."""
    with path.open("rb") as fh:  # our own handle: np.load leaks its handle when the zip is truncated
        z = np.load(fh, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with z:
            arrays = {k: z[k] for k in z.files}
    stored = arrays.pop(_DIGEST_KEY, None)
    if stored is None:
        raise ValueError("no digest")
    if str(stored) != _arrays_digest(key, arrays):
        raise ValueError("digest mismatch (the file was changed after it was written)")
    return arrays


def cached_arrays(cache_dir: Path | None, name: str, sources: Iterable[Path], options: dict,
                  build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """`build()` cached as `<cache_dir>/<name>-<hash of sources and options>.npz` (write, then rename).

    `cache_dir=None` disables caching. A cache that cannot be written (read-only data) is skipped; one
    that cannot be read or fails its digest is rebuilt with a `DataCacheWarning`.
    """
    if cache_dir is None:
        return build()
    sources = list(sources)
    key = f"{name}-{_fingerprint(sources, options)}"
    path = Path(cache_dir) / f"{key}.npz"
    try:
        remove_abandoned_temps(cache_dir, re.escape(name) + r"-[0-9a-f]{16}\.npz", older_than_s=STALE_TEMP_AGE_S)
    except OSError:
        pass
    if path.is_file():
        try:
            return _read_cache(path, key)
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as err:
            warnings.warn(f"ignoring corrupt preprocessing cache {path} ({type(err).__name__}: {err}); "
                          f"rebuilding it from the source files.", DataCacheWarning, stacklevel=2)
    arrays = build()
    if _DIGEST_KEY in arrays:
        raise ValueError(f"cached_arrays: array name {_DIGEST_KEY!r} is reserved.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_savez(path, **arrays, **{_DIGEST_KEY: np.asarray(_arrays_digest(key, arrays))})
    except OSError:
        pass
    return arrays
