"""Tokenisers of the LRA tasks: ListOps symbols, UTF-8 bytes, and a character vocabulary.

* ListOps [LRA `listops/input_pipeline.py`; S4 `listops_tokenizer`]: `]` -> `X`, delete `(` and `)`,
  split on whitespace. ssmlab fixes the ids: `<pad>` 0, `<unk>` 1, `<eos>` 2, digits 3..12, `[MIN` 13,
  `[MAX` 14, `[MED` 15, `[SM` 16, `X` 17 (S4 orders by train frequency instead; any fixed order is equivalent).
* Bytes [LRA `ByteTextEncoder`]: id = UTF-8 byte + 1, 0 = padding, 257 ids.
* Characters [S4/S5]: `<pad>` 0, `<unk>` 1, `<eos>` 2, then characters seen at least `min_freq` times in
  the training text, by decreasing count (ties by code point).

Padding appends id 0 up to a fixed length; `pad_with_lengths` also returns each sequence's valid length
(for `ArrayDataset(lengths=...)` and the padding mask), counting an empty sequence as length 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

PAD, UNK, EOS = 0, 1, 2
LISTOPS_SYMBOLS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "[MIN", "[MAX", "[MED", "[SM", "X")
LISTOPS_IDS = {s: i + 3 for i, s in enumerate(LISTOPS_SYMBOLS)}
LISTOPS_VOCAB_SIZE = 3 + len(LISTOPS_SYMBOLS)
BYTE_VOCAB_SIZE = 257


def listops_symbols(source: str) -> list[str]:
    """ListOps source -> symbols: `]` -> `X`, parentheses deleted, split on whitespace [LRA listops pipeline]."""
    return source.replace("]", "X").replace("(", " ").replace(")", " ").split()


def listops_ids(source: str, *, eos: bool = True) -> list[int]:
    """ListOps source -> ids with ssmlab's fixed vocabulary, `<eos>` appended; unknown symbols raise KeyError."""
    ids = [LISTOPS_IDS[s] for s in listops_symbols(source)]
    return ids + [EOS] if eos else ids


def byte_ids(text: str, *, max_length: int) -> np.ndarray:
    """UTF-8 bytes + 1 (0 is padding), cut to `max_length` ids [LRA `ByteTextEncoder`]."""
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)[:max_length]
    return raw.astype(np.int32) + 1


def char_vocabulary(texts: Iterable[str], *, min_freq: int = 1) -> dict[str, int]:
    """Character -> id: specials 0..2, then characters with count >= min_freq by decreasing count [S4 char vocab]."""
    if min_freq < 1:
        raise ValueError(f"min_freq must be >= 1; got {min_freq}.")
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(t)
    kept = sorted((c for c, n in counts.items() if n >= min_freq), key=lambda c: (-counts[c], ord(c)))
    return {c: i + 3 for i, c in enumerate(kept)}


def char_ids(text: str, vocab: dict[str, int], *, max_length: int, eos: bool = True) -> np.ndarray:
    """Characters -> ids (unknown -> `<unk>` 1), cut to `max_length - 1` then `<eos>` appended if `eos`."""
    body = text[: max_length - 1] if eos else text[:max_length]
    ids = [vocab.get(c, UNK) for c in body]
    if eos:
        ids.append(EOS)
    return np.asarray(ids, dtype=np.int32)


def pad_sequences(seqs: Sequence[Sequence[int] | np.ndarray], *, length: int, what: str) -> np.ndarray:
    """Stack id sequences into int32 [num, length], padding with 0; a longer sequence is a ValueError."""
    out = np.zeros((len(seqs), length), dtype=np.int32)
    for i, s in enumerate(seqs):
        if len(s) > length:
            raise ValueError(f"{what}: example {i} has {len(s)} tokens > seq_len={length}; "
                             f"pass a larger seq_len (or None for the longest example).")
        out[i, : len(s)] = s
    return out


def valid_lengths(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """Token counts as int32 valid lengths, at least 1: an empty example keeps one (padding) step to pool over."""
    return np.maximum(np.asarray(counts, dtype=np.int32), 1)


def pad_with_lengths(seqs: Sequence[Sequence[int] | np.ndarray], *, length: int,
                     what: str) -> tuple[np.ndarray, np.ndarray]:
    """`pad_sequences` plus the valid lengths int32 [num] (token counts, an empty sequence counted as 1)."""
    return pad_sequences(seqs, length=length, what=what), valid_lengths([len(s) for s in seqs])
