"""LRA Retrieval (AAN citation pairs) from `tsv_data/new_aan_pairs.{train,eval,test}.tsv`.

Each line: 5 tab-separated columns `label id1 id2 text1 text2`, no header, no quoting (LRA reads with
`use_quote_delim=False`); the label may be written `1` or `1.0`. Each document is encoded and cut
separately: `tokenizer="bytes"` (LRA: raw text cut at 10,000 characters, then bytes + 1, cut to `seq_len`)
or `"chars"` (S4: vocabulary from train `text1`+`text2`, no `min_freq`, `seq_len - 1` ids + `<eos>`).
Pairs: `pair="stack"` gives inputs [num, 2, seq_len] for a two-tower model (S4/S5 encode both documents
with a shared encoder and classify `[u, v, u - v, u * v]`) with `lengths` [num, 2], one per document
(padding mask [B, 2, seq_len]). `pair="concat"` (default, for the generic single-sequence model) gives
[num, 2 * seq_len]: the valid tokens of document 1 directly followed by those of document 2, then zero
padding, with `lengths` = n1 + n2. Packing (ours) keeps the padding at the end, so the mask is a prefix and
masked pooling averages exactly the tokens of both documents. The boundary is marked by document 1's
`<eos>` under `tokenizer="chars"`; the byte vocabulary has no separator, so under "bytes" it is unmarked
(use "chars" or `pair="stack"` where that matters). An empty example counts as length 1. The cache
stores ids and token counts per document (`CACHE_FORMAT` 2; older caches are not reused).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..dataset import ArrayDataset, Task, register_task
from .files import DataFormatError, cached_arrays, locate, read_text_lines, require_file
from .text import encode_texts
from .tokenizers import BYTE_VOCAB_SIZE, char_vocabulary, valid_lengths

LAYOUT = "tsv_data/new_aan_pairs.train.tsv, .eval.tsv, .test.tsv (5 columns: label id1 id2 text1 text2)"
SPLIT_FILES = {"train": "new_aan_pairs.train.tsv", "validation": "new_aan_pairs.eval.tsv",
               "test": "new_aan_pairs.test.tsv"}
LRA_RAW_CUT = 10_000
CACHE_FORMAT = 2  # 2: per-document token counts stored beside the ids


def read_aan_tsv(path: str | os.PathLike) -> tuple[list[str], list[str], np.ndarray]:
    """Parse one AAN pairs TSV into (text1s, text2s, int32 labels); errors name the file and line."""
    path = Path(path)
    t1, t2, labels = [], [], []
    for lineno, line in enumerate(read_text_lines(path, "retrieval"), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 5:
            raise DataFormatError(f"retrieval: {path} line {lineno}: expected 5 tab-separated columns "
                                  f"(label, id1, id2, text1, text2); found {len(fields)}.")
        try:
            value = float(fields[0])
        except ValueError:
            value = -1.0
        if value not in (0.0, 1.0):
            raise DataFormatError(f"retrieval: {path} line {lineno}: expected a label 0 or 1; found {fields[0]!r}.")
        labels.append(int(value))
        t1.append(fields[3])
        t2.append(fields[4])
    if not labels:
        raise DataFormatError(f"retrieval: {path} holds no examples; expected lines 'label id1 id2 text1 text2'.")
    return t1, t2, np.asarray(labels, dtype=np.int32)


def _pack_pairs_in_place(docs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Pairs [num, 2, L] (counts [num, 2]) -> [num, 2 L] view of `docs`: doc 1's tokens, doc 2's, then zeros.

    Rewrites a C-contiguous `docs` in place, one row at a time, so the largest split is never held twice.
    """
    num, _, length = docs.shape
    flat = docs.reshape(num, 2 * length)
    for row, (n1, n2) in zip(flat, counts.tolist(), strict=True):
        row[n1:n1 + n2] = row[length:length + n2].copy()
        row[n1 + n2:] = 0
    return flat


@register_task("retrieval")
def retrieval_task(*, data_dir: str | os.PathLike | None = None, tokenizer: str = "bytes",
                   seq_len: int = 4000, pair: str = "concat", cache: bool = True) -> Task:
    """LRA Retrieval (2 classes), each document `seq_len` tokens, read from `<data dir>/tsv_data/`."""
    if tokenizer not in ("bytes", "chars"):
        raise ValueError(f"tokenizer must be 'bytes' or 'chars'; got {tokenizer!r}.")
    if pair not in ("concat", "stack"):
        raise ValueError(f"pair must be 'concat' ([num, 2 L]) or 'stack' ([num, 2, L]); got {pair!r}.")
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2; got {seq_len}.")
    root = locate("retrieval", "tsv_data", LAYOUT, data_dir)
    files = {s: require_file("retrieval", root / f, "AAN pairs TSV") for s, f in SPLIT_FILES.items()}

    def build() -> dict[str, np.ndarray]:
        raw = {s: read_aan_tsv(p) for s, p in files.items()}
        vocab = None
        if tokenizer == "chars":
            vocab = char_vocabulary(raw["train"][0] + raw["train"][1], min_freq=1)
        out = {"vocab_size": np.asarray(BYTE_VOCAB_SIZE if vocab is None else 3 + len(vocab))}
        for s, (a, b, y) in raw.items():
            if tokenizer == "bytes":
                a, b = [t[:LRA_RAW_CUT] for t in a], [t[:LRA_RAW_CUT] for t in b]
            docs = [encode_texts(t, tokenizer=tokenizer, seq_len=seq_len, vocab=vocab) for t in (a, b)]
            out[f"{s}_x"] = np.stack([ids for ids, _ in docs], axis=1)
            out[f"{s}_counts"] = np.stack([n for _, n in docs], axis=1)
            out[f"{s}_y"] = y
        return out

    opts = dict(tokenizer=tokenizer, seq_len=seq_len, format=CACHE_FORMAT)
    a = cached_arrays(root / ".ssmlab_cache" if cache else None, "retrieval", files.values(), opts, build)

    def ds(s: str) -> ArrayDataset:
        x, counts = a[f"{s}_x"], a[f"{s}_counts"]
        if pair == "concat":
            lengths = valid_lengths(counts.sum(axis=1))
            return ArrayDataset(_pack_pairs_in_place(x, counts), a[f"{s}_y"], lengths=lengths)
        return ArrayDataset(x, a[f"{s}_y"], lengths=valid_lengths(counts))

    return Task(name="retrieval", train=ds("train"), test=ds("test"), validation=ds("validation"),
                input_kind="tokens", num_classes=2, seq_len=2 * seq_len if pair == "concat" else seq_len,
                vocab_size=int(a["vocab_size"]), pooling="mean")
