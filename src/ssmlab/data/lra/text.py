"""LRA Text: IMDB sentiment at the byte (LRA) or character (S4/S5) level, from the Stanford `aclImdb/` tree.

Layout: `aclImdb/{train,test}/{pos,neg}/<id>_<stars>.txt` (12,500 per class per split; `unsup/` ignored).
Labels: neg 0, pos 1. `tokenizer="bytes"`: UTF-8 byte + 1, cut to `seq_len` (LRA `ByteTextEncoder`, 257 ids);
`"chars"`: train vocabulary with `min_freq` (S4 uses 15), cut to `seq_len - 1` plus `<eos>`. Padding id 0.
Validation: a seeded `val_fraction` of train (ours), or `val="test"` to reuse the test split as LRA/S4 do.
Every split records its token counts as `lengths` (an empty review counts as 1), so batches carry a padding
mask; the preprocessing cache stores them too (`CACHE_FORMAT` 2; older caches are not reused).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..dataset import ArrayDataset, Task, register_task
from .files import DataFormatError, DataNotFoundError, cached_arrays, locate, split_indices
from .tokenizers import BYTE_VOCAB_SIZE, byte_ids, char_ids, char_vocabulary, pad_sequences, valid_lengths

LAYOUT = "aclImdb/{train,test}/{pos,neg}/<id>_<stars>.txt (the Stanford Large Movie Review Dataset v1.0)"
_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")
CACHE_FORMAT = 2  # 2: lengths stored beside the ids


def read_imdb_split(root: str | os.PathLike, split: str) -> tuple[list[str], np.ndarray, list[Path]]:
    """Texts, int32 labels (neg 0, pos 1) and paths of `aclImdb/<split>/{neg,pos}`, sorted by review id."""
    texts, labels, paths = [], [], []
    for label, sub in ((0, "neg"), (1, "pos")):
        folder = Path(root) / split / sub
        if not folder.is_dir():
            raise DataNotFoundError(f"text: missing directory {folder}; expected layout {LAYOUT}.")
        files = []
        for f in folder.iterdir():
            m = _NAME.match(f.name)
            if m is None:
                if f.suffix == ".txt":
                    raise DataFormatError(f"text: {f}: expected a file name '<id>_<stars>.txt'; found {f.name!r}.")
                continue
            files.append((int(m.group(1)), f))
        if not files:
            raise DataFormatError(f"text: {folder} holds no '<id>_<stars>.txt' review files.")
        for _, f in sorted(files):
            try:
                texts.append(f.read_bytes().decode("utf-8"))
            except UnicodeDecodeError as err:
                raise DataFormatError(f"text: {f} is not valid UTF-8 (byte {err.start}: {err.reason}); "
                                      f"expected a UTF-8 review.") from err
            labels.append(label)
            paths.append(f)
    return texts, np.asarray(labels, dtype=np.int32), paths


def encode_texts(texts: list[str], *, tokenizer: str, seq_len: int,
                 vocab: dict[str, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Encode texts as int32 ids [num, seq_len] (padding 0) with the byte or character tokeniser.

    Returns (ids, token counts int32 [num]); a count is 0 for an empty text under the byte tokeniser.
    """
    if tokenizer == "bytes":
        seqs = [byte_ids(t, max_length=seq_len) for t in texts]
    else:
        seqs = [char_ids(t, vocab or {}, max_length=seq_len) for t in texts]
    return pad_sequences(seqs, length=seq_len, what="text"), np.asarray([len(q) for q in seqs], dtype=np.int32)


@register_task("text")
def text_task(*, data_dir: str | os.PathLike | None = None, tokenizer: str = "bytes",
              seq_len: int = 4096, min_freq: int = 15, val: str = "split",
              val_fraction: float = 0.1, seed: int = 0, cache: bool = True) -> Task:
    """LRA Text (IMDB, 2 classes, L = `seq_len`) read from `<data dir>/aclImdb/`."""
    if tokenizer not in ("bytes", "chars"):
        raise ValueError(f"tokenizer must be 'bytes' or 'chars'; got {tokenizer!r}.")
    if val not in ("split", "test"):
        raise ValueError(f"val must be 'split' (a seeded part of train) or 'test'; got {val!r}.")
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2; got {seq_len}.")
    root = locate("text", "aclImdb", LAYOUT, data_dir)
    options = dict(tokenizer=tokenizer, seq_len=seq_len, min_freq=min_freq, val=val, vf=val_fraction, seed=seed,
                   format=CACHE_FORMAT)

    def build() -> dict[str, np.ndarray]:
        tr_texts, tr_y, _ = read_imdb_split(root, "train")
        te_texts, te_y, _ = read_imdb_split(root, "test")
        fit, held = (np.arange(len(tr_y)), None) if val == "test" else \
            split_indices(len(tr_y), (1 - val_fraction, val_fraction), seed)
        vocab = char_vocabulary((tr_texts[i] for i in fit), min_freq=min_freq) if tokenizer == "chars" else None
        tr_x, tr_n = encode_texts(tr_texts, tokenizer=tokenizer, seq_len=seq_len, vocab=vocab)
        te_x, te_n = encode_texts(te_texts, tokenizer=tokenizer, seq_len=seq_len, vocab=vocab)
        out = {"x": tr_x[fit], "y": tr_y[fit], "lengths": valid_lengths(tr_n[fit]), "test_x": te_x, "test_y": te_y,
               "test_lengths": valid_lengths(te_n),
               "vocab_size": np.asarray(BYTE_VOCAB_SIZE if vocab is None else 3 + len(vocab))}
        if held is not None:
            out |= {"val_x": tr_x[held], "val_y": tr_y[held], "val_lengths": valid_lengths(tr_n[held])}
        return out

    sources = [p for sub in ("train/neg", "train/pos", "test/neg", "test/pos") for p in (root / sub).glob("*.txt")]
    a = cached_arrays(root / ".ssmlab_cache" if cache else None, "text", sources, options, build)
    test = ArrayDataset(a["test_x"], a["test_y"], lengths=a["test_lengths"])
    valid = ArrayDataset(a["val_x"], a["val_y"], lengths=a["val_lengths"]) if "val_x" in a else test
    train = ArrayDataset(a["x"], a["y"], lengths=a["lengths"])
    return Task(name="text", train=train, test=test, validation=valid, input_kind="tokens",
                num_classes=2, seq_len=seq_len, vocab_size=int(a["vocab_size"]), pooling="mean")
