"""Procedural ListOps, written from the task definition [LRA `data/listops.py`, after Nangia & Bowman 2018].

A node at depth d (root d = 1) is an operator with probability 0.25 when d < max_depth, else a value
uniform in 0..9. An operator is uniform over MIN, MAX, MED, SM and takes randint(2, max_args) children
(inclusive). Length = 1 per value, 2 + children's lengths per operator (brackets not counted); a tree is
kept iff min_length < length < max_length, and duplicates are dropped. Values: MIN, MAX,
MED = int(median) (mean of the two middle values for an even count, truncated), SM = sum mod 10.
Text: the binarised form `( ( ( [MAX 2 ) 9 ) ] )`, i.e. `(op, a1)`, then `((...), a2)`, ..., then `((...), ])`
with every pair printed as `( x y )`. `write_listops` writes `listops-1000/basic_{train,val,test}.tsv`
(header `Source<TAB>Target`), the format `ssmlab.data.lra.listops` reads.

Generation is driven by a seeded `numpy.random.Generator` (random numbers drawn in blocks for speed), and a
tree is abandoned as soon as it grows past `max_length`, which does not change the distribution of kept trees.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from pathlib import Path

import numpy as np

from .dataset import ArrayDataset, Task, register_task
from .lra.tokenizers import LISTOPS_VOCAB_SIZE, listops_ids, pad_sequences

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
OPERATOR_PROB = 0.25


class _TooLong(Exception):
    pass


class _Stream:
    """Uniform floats from a numpy Generator, drawn 65,536 at a time."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.buf, self.pos = rng, np.empty(0), 0

    def next(self) -> float:
        if self.pos >= len(self.buf):
            self.buf, self.pos = self.rng.random(65536).tolist(), 0
        self.pos += 1
        return self.buf[self.pos - 1]


def operator_value(op: str, args: list[int]) -> int:
    """MIN, MAX, MED = int(median) (even count: mean of the middle two, truncated), SM = sum mod 10 [LRA listops]."""
    if op == "[MIN":
        return min(args)
    if op == "[MAX":
        return max(args)
    if op == "[SM":
        return sum(args) % 10
    s = sorted(args)
    m = len(s) // 2
    return s[m] if len(s) % 2 else int((s[m - 1] + s[m]) / 2)


def _grow(stream: _Stream, depth: int, max_depth: int, max_args: int, budget: list[int], out: list[str]) -> int:
    """Append one random subtree's binarised text to `out`; return its value; abort once `budget` runs out."""
    if depth < max_depth and stream.next() <= OPERATOR_PROB:
        op = OPERATORS[int(stream.next() * len(OPERATORS))]
        n_args = 2 + int(stream.next() * (max_args - 1))
        budget[0] -= 2
        args = []
        out.append("( " * (n_args + 1) + op)
        for _ in range(n_args):
            out.append(" ")
            args.append(_grow(stream, depth + 1, max_depth, max_args, budget, out))
            out.append(" )")
        out.append(" ] )")
        return operator_value(op, args)
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLong
    v = int(stream.next() * 10)
    out.append(str(v))
    return v


def random_tree(stream: _Stream, *, max_depth: int, max_args: int, max_length: int) -> tuple[str, int, int] | None:
    """One random tree as (binarised text, value, length), or None if it reached `max_length` tokens."""
    budget, out = [max_length - 1], []
    try:
        value = _grow(stream, 1, max_depth, max_args, budget, out)
    except _TooLong:
        return None
    if budget[0] < 0:
        return None
    return "".join(out), value, max_length - 1 - budget[0]


CHUNK_DRAWS = 2000


def _chunk(args: tuple) -> list[tuple[str, int]]:
    """Accepted (text, value) pairs among the `CHUNK_DRAWS` draws of chunk k, seeded [seed, k]."""
    seed, k, max_depth, max_args, min_length, max_length = args
    stream = _Stream(np.random.default_rng([seed, k]))
    out = []
    for _ in range(CHUNK_DRAWS):
        tree = random_tree(stream, max_depth=max_depth, max_args=max_args, max_length=max_length)
        if tree is not None and tree[2] > min_length:
            out.append((tree[0], tree[1]))
    return out


def generate_listops(num: int, *, seed: int = 0, max_depth: int = 10, max_args: int = 10, min_length: int = 500,
                     max_length: int = 2000, max_tries: int | None = None, workers: int = 1
                     ) -> tuple[list[str], np.ndarray]:
    """`num` distinct ListOps expressions with min_length < length < max_length and their values 0..9.

    Draws come in chunks of `CHUNK_DRAWS` trees, chunk k seeded `[seed, k]`, consumed in order, so the result
    does not depend on `workers` (> 1 computes chunks in that many spawned processes).
    """
    if num < 0 or max_depth < 1 or max_args < 2 or not 0 <= min_length < max_length - 1 or workers < 1:
        raise ValueError(f"need num >= 0, max_depth >= 1, max_args >= 2, 0 <= min_length < max_length - 1 and "
                         f"workers >= 1; got num={num}, max_depth={max_depth}, max_args={max_args}, "
                         f"min_length={min_length}, max_length={max_length}, workers={workers}.")
    limit = max_tries if max_tries is not None else 1000 * num + 10_000
    seen: dict[str, int] = {}
    params = (max_depth, max_args, min_length, max_length)
    pool = None
    if workers > 1:
        pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        k = 0
        while len(seen) < num:
            if k * CHUNK_DRAWS >= limit:
                raise ValueError(f"generate_listops: only {len(seen)} of {num} distinct trees after {k * CHUNK_DRAWS} "
                                 f"draws; widen (min_length, max_length)=({min_length}, {max_length}) or raise "
                                 f"max_depth.")
            ks = range(k, k + (workers if pool else 1))
            jobs = [(seed, j, *params) for j in ks]
            for chunk in (pool.map(_chunk, jobs) if pool else map(_chunk, jobs)):
                for text, value in chunk:
                    if len(seen) < num and text not in seen:
                        seen[text] = value
            k += len(ks)
    finally:
        if pool is not None:
            pool.shutdown()
    return list(seen), np.fromiter(seen.values(), dtype=np.int32, count=len(seen))


def write_listops(out_dir: str | os.PathLike, *, num_train: int = 96_000, num_val: int = 2_000,
                  num_test: int = 2_000, seed: int = 0, **options) -> Path:
    """Generate distinct trees and write `<out_dir>/listops-1000/basic_{train,val,test}.tsv`; return that dir.

    `options` go to `generate_listops` (lengths, depth, `workers`).
    """
    sources, values = generate_listops(num_train + num_val + num_test, seed=seed, **options)
    d = Path(out_dir) / "listops-1000"
    d.mkdir(parents=True, exist_ok=True)
    bounds = {"train": (0, num_train), "val": (num_train, num_train + num_val),
              "test": (num_train + num_val, len(sources))}
    for split, (a, b) in bounds.items():
        rows = "".join(f"{s}\t{v}\n" for s, v in zip(sources[a:b], values[a:b].tolist(), strict=True))
        (d / f"basic_{split}.tsv").write_text("Source\tTarget\n" + rows)
    return d


@register_task("listops-gen")
def listops_generated_task(*, num_train: int = 2000, num_test: int = 500, num_val: int = 0, seed: int = 0,
                           max_depth: int = 10, max_args: int = 10, min_length: int = 500, max_length: int = 2000,
                           seq_len: int | None = None) -> Task:
    """Generated ListOps in memory (same tokenisation as `listops`); `seq_len` defaults to `max_length`."""
    n = num_train + num_val + num_test
    sources, values = generate_listops(n, seed=seed, max_depth=max_depth, max_args=max_args,
                                       min_length=min_length, max_length=max_length)
    seq_len = max_length if seq_len is None else seq_len
    x = pad_sequences([listops_ids(s) for s in sources], length=seq_len, what="listops-gen")
    part = {"train": slice(0, num_train), "val": slice(num_train, num_train + num_val),
            "test": slice(num_train + num_val, n)}
    data = {k: ArrayDataset(x[s], values[s]) for k, s in part.items()}
    return Task(name="listops-gen", train=data["train"], test=data["test"],
                validation=data["val"] if num_val else None, input_kind="tokens", num_classes=10, seq_len=seq_len,
                vocab_size=LISTOPS_VOCAB_SIZE, pooling="mean")

