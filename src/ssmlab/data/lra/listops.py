"""LRA ListOps from the released TSV files: `listops-1000/basic_{train,val,test}.tsv`.

Each file has the header `Source<TAB>Target`; `Source` is a parenthesised, binarised expression tree
such as `( ( ( [MAX 2 ) 9 ) ] )` and `Target` its value 0..9. Tokenising follows LRA/S4 (`tokenizers`):
18 ids, `<eos>` appended, never truncated; sequences are zero-padded to `seq_len` (S4 `l_max` 2,048)
and every split records the token counts (with `<eos>`) as `lengths`, so batches carry a padding mask.
Refused with file and line, never guessed: a Target that is not exactly an integer 0..9 (`3.7`, `inf`,
`12`), an empty Source, unknown tokens; a file with only its header holds no examples and is refused.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..dataset import ArrayDataset, Task, register_task
from .files import DataFormatError, locate, read_text_lines, require_file
from .tokenizers import LISTOPS_IDS, LISTOPS_VOCAB_SIZE, listops_symbols, pad_with_lengths

LAYOUT = "listops-1000/basic_train.tsv, basic_val.tsv, basic_test.tsv (TSV, header `Source<TAB>Target`)"
SPLIT_FILES = {"train": "basic_train.tsv", "validation": "basic_val.tsv", "test": "basic_test.tsv"}


def read_listops_tsv(path: str | os.PathLike) -> tuple[list[list[int]], np.ndarray]:
    """Parse one ListOps TSV into token-id lists (with `<eos>`) and int32 labels; errors name file and line."""
    path = Path(path)
    lines = read_text_lines(path, "listops")
    if not lines or lines[0].strip().split("\t") != ["Source", "Target"]:
        found = repr(lines[0][:60]) if lines else "an empty file"
        raise DataFormatError(f"listops: {path} line 1: expected the header 'Source<TAB>Target'; found {found}.")
    seqs, labels = [], []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataFormatError(f"listops: {path} line {lineno}: expected 2 tab-separated columns "
                                  f"(Source, Target); found {len(fields)}.")
        source, target = fields
        symbols = listops_symbols(source)
        if not symbols:
            raise DataFormatError(f"listops: {path} line {lineno}: empty Source; expected an expression such as "
                                  f"'( ( ( [MAX 2 ) 9 ) ] )' before the tab.")
        bad = [s for s in symbols if s not in LISTOPS_IDS]
        if bad:
            raise DataFormatError(f"listops: {path} line {lineno}: unknown token {bad[0]!r}; expected digits, "
                                  f"[MIN, [MAX, [MED, [SM, ], and parentheses.")
        label = _target(target)
        if label is None:
            raise DataFormatError(f"listops: {path} line {lineno}: expected a Target in 0..9, written as an "
                                  f"integer ('7' or '7.0'); found {target!r}.")
        seqs.append([LISTOPS_IDS[s] for s in symbols] + [2])
        labels.append(label)
    if not labels:
        raise DataFormatError(f"listops: {path} holds no examples after its header; expected lines "
                              f"'Source<TAB>Target'.")
    return seqs, np.asarray(labels, dtype=np.int32)


def _target(text: str) -> int | None:
    """The integer 0..9 that `text` writes exactly ('7', '7.0'), else None (3.7, inf, nan, 12, 'x' are refused)."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or not value.is_integer() or not 0 <= value <= 9:
        return None
    return int(value)


def listops_task_from_dir(directory: str | os.PathLike, *, seq_len: int | None = 2048,
                          name: str = "listops") -> Task:
    """Build the ListOps task from a `listops-1000/`-style directory (train / validation / test TSVs)."""
    directory = Path(directory)
    parts = {split: read_listops_tsv(require_file(name, directory / fname, "ListOps TSV, header Source<TAB>Target"))
             for split, fname in SPLIT_FILES.items()}
    if seq_len is None:
        seq_len = max(max((len(s) for s in seqs), default=1) for seqs, _ in parts.values())
    data = {}
    for split, (seqs, labels) in parts.items():
        x, lengths = pad_with_lengths(seqs, length=seq_len, what=f"{name} {split}")
        data[split] = ArrayDataset(x, labels, lengths=lengths)
    return Task(name=name, train=data["train"], test=data["test"], validation=data["validation"],
                input_kind="tokens", num_classes=10, seq_len=seq_len, vocab_size=LISTOPS_VOCAB_SIZE, pooling="mean")


@register_task("listops")
def listops_task(*, data_dir: str | os.PathLike | None = None, seq_len: int | None = 2048) -> Task:
    """LRA ListOps (10 classes, L <= 2,048 tokens, pad id 0) read from `<data dir>/listops-1000/`."""
    directory = locate("listops", "listops-1000", LAYOUT, data_dir, generate_hint=True)
    return listops_task_from_dir(directory, seq_len=seq_len)
