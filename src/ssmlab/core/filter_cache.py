"""On-disk cache of STU spectral filters, keyed by (L, K, kind, dtype, format version).

Filters depend only on those keys (`core.hankel.spectral_filters`), and at long L they take
seconds to compute, so they are stored once per machine under
`platformdirs.user_cache_dir("ssmlab")/filters` (override the folder with the environment
variable `SSMLAB_CACHE_DIR`). Each entry is an `.npz` holding sigma, phi, the key fields and a
SHA-256 digest of the array bytes. Writes are atomic (temporary file in the same folder, fsync,
`os.replace`), so a concurrent reader sees either no file or a complete one. On load every key
field, shape, dtype, finiteness and the digest are verified; a file that fails any check is
reported with a `FilterCacheWarning`, recomputed and overwritten, never used.

Temporary files of killed writers (`filters_v*.npz.XXXXXXXX.tmp`) are deleted the first time a
process uses a cache folder, once they are older than `STALE_TEMP_AGE_S` (1 hour; a live writer
renames its temporary file within seconds, and its mtime advances while it writes). Other `*.tmp`
files and younger temporary files (another process may be writing them) are kept.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import platformdirs

from .._atomic import atomic_savez, remove_abandoned_temps
from .hankel import spectral_filters

CACHE_ENV = "SSMLAB_CACHE_DIR"
FORMAT_VERSION = 1  # bump when the filter computation or the file layout changes
STALE_TEMP_AGE_S = 3600.0  # a temporary cache file not modified for this long has lost its writer
_CLEANED: set[str] = set()  # cache folders this process has cleaned of abandoned temporary files


class FilterCacheWarning(UserWarning):
    """A cache file was unreadable or inconsistent and has been recomputed."""


def cache_dir() -> Path:
    """The filter cache folder: `$SSMLAB_CACHE_DIR` if set, else the user cache dir + '/filters'."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path(platformdirs.user_cache_dir("ssmlab")) / "filters"


def cache_path(*, seq_len: int, num_filters: int, kind: str, dtype) -> Path:
    """File that holds the filters for this key."""
    name = f"filters_v{FORMAT_VERSION}_{kind}_L{int(seq_len)}_K{int(num_filters)}_{np.dtype(dtype).name}.npz"
    return cache_dir() / name


def remove_stale_cache_temps(folder: Path | None = None) -> list[Path]:
    """Delete abandoned temporary files of filter-cache entries in `folder` (default `cache_dir()`)."""
    return remove_abandoned_temps(cache_dir() if folder is None else folder, r"filters_v\d+_.+\.npz",
                                  older_than_s=STALE_TEMP_AGE_S)


def _clean_once(folder: Path) -> None:
    key = str(folder.resolve())
    if key in _CLEANED:
        return
    _CLEANED.add(key)
    try:
        remove_stale_cache_temps(folder)
    except OSError:  # an unreadable or read-only cache folder must not stop model construction
        pass


def _digest(sigma: np.ndarray, phi: np.ndarray, meta: str) -> str:
    h = hashlib.sha256(meta.encode())
    h.update(np.ascontiguousarray(sigma).tobytes())
    h.update(np.ascontiguousarray(phi).tobytes())
    return h.hexdigest()


def _meta(seq_len: int, num_filters: int, kind: str, dtype) -> str:
    return f"v{FORMAT_VERSION}|{kind}|{int(seq_len)}|{int(num_filters)}|{np.dtype(dtype).name}"


def _load(path: Path, meta: str, seq_len: int, num_filters: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Read and verify one entry; raise ValueError describing the first inconsistency."""
    # Open the file ourselves: np.load leaks its handle when the zip is truncated.
    with path.open("rb") as fh, np.load(fh, allow_pickle=False) as f:
        sigma, phi = f["sigma"], f["phi"]
        stored_meta, digest = str(f["meta"]), str(f["sha256"])
    if stored_meta != meta:
        raise ValueError(f"key mismatch ({stored_meta!r} != {meta!r})")
    if sigma.shape != (num_filters,) or phi.shape != (seq_len, num_filters):
        raise ValueError(f"shape mismatch (sigma {sigma.shape}, phi {phi.shape})")
    if sigma.dtype != np.dtype(dtype) or phi.dtype != np.dtype(dtype):
        raise ValueError(f"dtype mismatch ({sigma.dtype}, {phi.dtype})")
    if digest != _digest(sigma, phi, meta):
        raise ValueError("checksum mismatch")
    if not (np.all(np.isfinite(sigma)) and np.all(np.isfinite(phi))):
        raise ValueError("non-finite values")
    return sigma, phi


def _store(path: Path, sigma: np.ndarray, phi: np.ndarray, meta: str) -> None:
    """Write atomically: a temporary file in the target folder, flushed, then renamed over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_savez(path, sigma=sigma, phi=phi, meta=np.array(meta), sha256=np.array(_digest(sigma, phi, meta)))


def cached_spectral_filters(
    *, seq_len: int, num_filters: int, kind: str = "hankel", dtype=np.float64, use_cache: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """`spectral_filters(...)` (method "auto") read from / written to the on-disk cache.

    Returns (sigma [K], phi [L, K]) as numpy arrays of `dtype`, identical to a fresh computation.
    Does not warn about noise-level filters (call `spectral_filters` directly for that check).
    With `use_cache=False` the cache is neither read nor written.
    """
    def compute():
        return spectral_filters(seq_len=seq_len, num_filters=num_filters, kind=kind, dtype=dtype, warn=False)

    if not use_cache:
        return compute()
    meta = _meta(seq_len, num_filters, kind, dtype)
    path = cache_path(seq_len=seq_len, num_filters=num_filters, kind=kind, dtype=dtype)
    _clean_once(path.parent)
    if path.exists():
        try:
            return _load(path, meta, int(seq_len), int(num_filters), dtype)
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as err:
            warnings.warn(f"ignoring corrupt filter cache file {path} ({err}); recomputing it.",
                          FilterCacheWarning, stacklevel=2)
    sigma, phi = compute()
    try:
        _store(path, sigma, phi, meta)
    except OSError as err:  # a read-only or full disk must not stop model construction
        warnings.warn(f"could not write filter cache {path} ({err}); set {CACHE_ENV} to a writable folder.",
                      FilterCacheWarning, stacklevel=2)
    return sigma, phi
