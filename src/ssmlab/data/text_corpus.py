r"""Character-level language modelling on the Python standard library's own source files (no network).

Task `lm-chars`: every Python installation ships its standard library as `.py` source, so the corpus
is on every machine. Which files and how they are cut:

* files: the `*.py` files directly in `root` (default `sysconfig.get_paths()["stdlib"]`, not its
  sub-packages), sorted by name, keeping those of at most `max_file_bytes` bytes, the first `max_files`
  of them. The corpus therefore depends on the Python version (recorded in every run's config.json
  environment); `corpus_files` lists it.
* vocabulary: bytes (V = 256), so every file is representable, nothing is fitted to the data and a
  model decodes without a vocabulary file; for the (almost all ASCII) sources a byte is a character.
* split BY FILE: a file goes to validation if h < `val_fraction`, to test if h < `val_fraction` +
  `test_fraction`, else to train, where h = the first 8 bytes of sha256(relative path) / 2⁶⁴ ∈ [0, 1).
  So the split of a file never depends on which other files are present; no window mixes splits.
* windows: the files of a split are concatenated in sorted order and cut into consecutive
  non-overlapping windows of `seq_len + 1` bytes overlapping by one: x = bytes[kL : kL + L],
  y = bytes[kL + 1 : kL + L + 1] (the next byte at every step; objective "next_token"). The tail shorter
  than a window is dropped; `max_windows` > 0 keeps the first windows of each split (train is a prefix
  of the corpus, validation/test the first windows of theirs).
"""

from __future__ import annotations

import hashlib
import sysconfig
from pathlib import Path

import numpy as np

from .dataset import ArrayDataset, Task, register_task

VOCAB_SIZE = 256
SPLITS = ("train", "validation", "test")


def stdlib_root() -> Path:
    """The folder of the running Python's standard library sources."""
    return Path(sysconfig.get_paths()["stdlib"])


def corpus_files(root: Path | str | None = None, *, max_files: int = 64, max_file_bytes: int = 40_000) -> list[Path]:
    """Sorted `*.py` files directly in `root` (default: the stdlib) of <= `max_file_bytes`, the first `max_files`."""
    root = stdlib_root() if root is None or str(root) == "" else Path(root)
    if not root.is_dir():
        raise ValueError(f"corpus root {str(root)!r} is not a directory; pass a folder holding .py files.")
    if max_files < 1 or max_file_bytes < 1:
        raise ValueError(f"max_files and max_file_bytes must be >= 1; got {max_files}, {max_file_bytes}.")
    files = [p for p in sorted(root.glob("*.py")) if p.is_file() and p.stat().st_size <= max_file_bytes]
    if not files:
        raise ValueError(f"no .py files of at most {max_file_bytes} bytes in {str(root)!r}; pass another root or "
                         "raise max_file_bytes.")
    return files[:max_files]


def file_split(relative_path: str, *, val_fraction: float, test_fraction: float) -> str:
    """"train", "validation" or "test" for a file, from the sha256 of its relative path (see the module docstring)."""
    h = int.from_bytes(hashlib.sha256(relative_path.encode()).digest()[:8], "big") / 2.0**64
    if h < val_fraction:
        return "validation"
    return "test" if h < val_fraction + test_fraction else "train"


def split_files(files: list[Path], root: Path, *, val_fraction: float, test_fraction: float) -> dict[str, list[Path]]:
    """The files of each split, in sorted order."""
    out: dict[str, list[Path]] = {s: [] for s in SPLITS}
    for path in files:
        rel = path.relative_to(root).as_posix()
        out[file_split(rel, val_fraction=val_fraction, test_fraction=test_fraction)].append(path)
    return out


def windows(data: bytes, seq_len: int, max_windows: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs x [n, seq_len] and next-byte targets y [n, seq_len] (int32) of consecutive windows of `data`."""
    tokens = np.frombuffer(data, dtype=np.uint8).astype(np.int32)
    n = (len(tokens) - 1) // seq_len
    if max_windows > 0:
        n = min(n, max_windows)
    idx = np.arange(n)[:, None] * seq_len + np.arange(seq_len)[None, :]
    return tokens[idx], tokens[idx + 1]


def unigram_entropy_bits(data: bytes) -> float:
    """Entropy -Σ p_c log₂ p_c of the byte frequencies of `data` (the loss of the best context-free model)."""
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=VOCAB_SIZE).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def split_bytes(root: Path | str | None = None, *, max_files: int = 64, max_file_bytes: int = 40_000,
                val_fraction: float = 0.1, test_fraction: float = 0.1) -> dict[str, bytes]:
    """The concatenated bytes of each split."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"need 0 < val_fraction, test_fraction and val_fraction + test_fraction < 1; got "
                         f"{val_fraction}, {test_fraction}.")
    root_path = stdlib_root() if root is None or str(root) == "" else Path(root)
    files = corpus_files(root_path, max_files=max_files, max_file_bytes=max_file_bytes)
    parts = split_files(files, root_path, val_fraction=val_fraction, test_fraction=test_fraction)
    return {s: b"".join(p.read_bytes() for p in parts[s]) for s in SPLITS}


@register_task("lm-chars")
def lm_chars_task(*, seq_len: int = 128, root: str = "", max_files: int = 64, max_file_bytes: int = 40_000,
                  val_fraction: float = 0.1, test_fraction: float = 0.1, max_windows: int = 0) -> Task:
    """Next-byte prediction on Python stdlib sources, split by file (see the module docstring)."""
    if seq_len < 1 or max_windows < 0:
        raise ValueError(f"need seq_len >= 1 and max_windows >= 0; got {seq_len}, {max_windows}.")
    data = split_bytes(root or None, max_files=max_files, max_file_bytes=max_file_bytes, val_fraction=val_fraction,
                       test_fraction=test_fraction)
    sets = {}
    for split, text in data.items():
        x, y = windows(text, seq_len, max_windows)
        if len(x) == 0:
            raise ValueError(f"lm-chars: the {split} split holds {len(text)} bytes, less than one window of "
                             f"seq_len + 1 = {seq_len + 1}; use more files (max_files), a shorter seq_len or larger "
                             "split fractions.")
        sets[split] = ArrayDataset(x, y)
    return Task(name="lm-chars", train=sets["train"], test=sets["test"], validation=sets["validation"],
                input_kind="tokens", num_classes=VOCAB_SIZE, seq_len=seq_len, vocab_size=VOCAB_SIZE,
                pooling="none", objective="next_token")
