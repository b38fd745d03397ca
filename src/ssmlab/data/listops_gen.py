"""Procedural ListOps, written from the task definition [LRA `data/listops.py`, after Nangia & Bowman 2018].

A node at depth d (root d = 1) is an operator with probability 0.25 when d < max_depth, else a value
uniform in 0..9. An operator is uniform over MIN, MAX, MED, SM and takes randint(2, max_args) children
(inclusive). Length = 1 per value, 2 + children's lengths per operator (brackets not counted); a tree is
kept iff min_length < length < max_length, and duplicates are dropped. Values: MIN, MAX,
MED = int(median) (mean of the two middle values for an even count, truncated), SM = sum mod 10.
Text: the binarised form `( ( ( [MAX 2 ) 9 ) ] )`, i.e. `(op, a1)`, then `((...), a2)`, ..., then `((...), ])`
with every pair printed as `( x y )`. `write_listops` writes `listops-1000/basic_{train,val,test}.tsv`
(header `Source<TAB>Target`), the format `ssmlab.data.lra.listops` reads.

Generation is vectorised with numpy over chunks of draws. Trees grow breadth-first, one level of every tree
at a time; each node takes one uniform integer r below 160 (max_args - 1), whose mixed-radix digits are the
independent choices (operator iff r % 4 == 0, value, operator kind, argument count). A tree stops growing once
its length so far plus one per child still to draw reaches max_length, which does not change the distribution
of kept trees. Kept trees then get values (MIN/MAX/SM by segment reductions, MED from digit counts) and sizes
bottom-up, symbol positions top-down, and are written straight as text (`generate_listops`, the TSV files)
or as token ids (`generate_listops_ids`, the in-memory `listops-gen` task).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import itertools
import multiprocessing
import operator
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .dataset import ArrayDataset, Task, register_task
from .lra.tokenizers import EOS, LISTOPS_IDS, LISTOPS_SYMBOLS, LISTOPS_VOCAB_SIZE

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
OPERATOR_PROB = 0.25
CHUNK_DRAWS = 2000
_OP0 = LISTOPS_SYMBOLS.index(OPERATORS[0])  # symbol index: digits 0..9, operators 10..13, `]` (token X) 14
_CLOSE = LISTOPS_SYMBOLS.index("X")


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


def operator_values(ops: np.ndarray, args: np.ndarray, n_args: np.ndarray) -> np.ndarray:
    """Values of operators `ops` [n] (index into OPERATORS), arguments concatenated in `args`, n_args [n] each.

    MIN, MAX and SM reduce each run of arguments; MED reads the middle ranks off per-operator digit counts.
    """
    first = np.cumsum(n_args) - n_args
    value = np.select([ops == 0, ops == 1, ops == 3], [np.minimum.reduceat(args, first),
                      np.maximum.reduceat(args, first), np.add.reduceat(args, first, dtype=np.int64) % 10], 0)
    med = np.flatnonzero(ops == 2)
    if len(med):
        k = n_args[med]
        counts = np.bincount(np.repeat(np.arange(len(med)) * 10, k) + args[np.repeat(ops == 2, n_args)],
                             minlength=10 * len(med))
        at_or_below = counts.reshape(len(med), 10).cumsum(axis=1)
        lo, hi = ((at_or_below <= m[:, None]).sum(axis=1) for m in ((k - 1) // 2, k // 2))  # ranks (k-1)//2, k//2
        value[med] = (lo + hi) // 2  # odd k: both are the middle value
    return value


def _node_tables(max_args: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symbol, argument count and length increment of a node drawn as r uniform in 0..160 (max_args - 1) - 1.

    The mixed-radix digits of r are independent uniforms: r % 4 == 0 is the operator coin (P = 1/4 =
    OPERATOR_PROB), then the value 0..9, the operator kind 0..3 and the argument count - 2.
    """
    r = np.arange(160 * (max_args - 1))
    is_op = r % 4 == 0
    sym = np.where(is_op, _OP0 + r // 40 % 4, r // 4 % 10).astype(np.uint8)
    n_args = np.where(is_op, 2 + r // 160, 0)
    return sym, n_args, n_args + is_op  # an operator adds 1 symbol (its `]`) and n_args pending children


def _grow_levels(rng: np.random.Generator, n_draws: int, *, max_depth: int, max_args: int,
                 max_length: int) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
    """Grow `n_draws` trees breadth-first: per depth (tree, symbol, n_args) of every node, and each tree's length.

    Nodes of one level are ordered by tree, and the children of one operator are consecutive on the next level.
    A tree whose length so far plus its pending children reaches `max_length` grows no further; its returned
    length is then only a lower bound (>= max_length).
    """
    sym_of, n_args_of, growth_of = _node_tables(max_args)
    tree = np.arange(n_draws)
    bound = np.ones(n_draws, dtype=np.int64)  # length so far + one per node still to draw
    levels = []
    for depth in range(1, max_depth + 1):
        if depth == max_depth:  # values only
            levels.append((tree, rng.integers(0, 10, size=len(tree), dtype=np.uint8), np.zeros(len(tree), np.int64)))
            break
        r = rng.integers(0, len(sym_of), size=len(tree))
        n_args = n_args_of[r]
        levels.append((tree, sym_of[r], n_args))
        bound += np.bincount(tree, weights=growth_of[r], minlength=n_draws).astype(np.int64)
        grow = np.flatnonzero(n_args * (bound[tree] < max_length))
        if not len(grow):
            break
        tree = np.repeat(tree[grow], n_args[grow])
    return levels, bound


def _values_and_sizes(levels: list) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Bottom-up: value and size (symbols, `]` included) of every node of complete trees, per level."""
    values, sizes = [], []
    for d in range(len(levels) - 1, -1, -1):
        _, sym, n_args = levels[d]
        value, size = sym.astype(np.int64), np.ones(len(sym), dtype=np.int64)
        op = np.flatnonzero(n_args)
        if len(op):
            k = n_args[op]
            value[op] = operator_values(sym[op] - _OP0, values[0], k)
            size[op] = 2 + np.add.reduceat(sizes[0], np.cumsum(k) - k)
        values.insert(0, value)
        sizes.insert(0, size)
    return values, sizes


def _positions(levels: list, sizes: list[np.ndarray]) -> list[np.ndarray]:
    """Top-down: index of every node's first symbol in the concatenated prefix (Polish) symbol sequences."""
    root = sizes[0]
    pos = [np.cumsum(root) - root]
    for d in range(1, len(levels)):
        n_args = levels[d - 1][2]
        op = np.flatnonzero(n_args)
        before = np.cumsum(sizes[d]) - sizes[d]  # symbols of earlier nodes on this level
        first = np.cumsum(n_args[op]) - n_args[op]
        pos.append(np.repeat(pos[d - 1][op] + 1 - before[first], n_args[op]) + before)
    return pos


def _prefix_symbols(levels: list, sizes: list[np.ndarray], pos: list[np.ndarray]) -> np.ndarray:
    """Prefix symbol indices (LISTOPS_SYMBOLS order, `]` as X) of the complete trees, concatenated, uint8."""
    out = np.empty(int(sizes[0].sum()), dtype=np.uint8)
    for (_, sym, n_args), size, p in zip(levels, sizes, pos, strict=True):
        out[p] = sym
        out[(p + size - 1)[n_args > 0]] = _CLOSE
    return out


def _pieces(max_args: int) -> list[str]:
    """Text of one symbol with its brackets: digit v (root v, child 10 + v), `]` (root 20, child 21), then
    operator o with k arguments at 22 + o * (max_args - 1) + k - 2. A tree's last piece ends in a newline."""
    texts = [f"{v}\n" for v in range(10)] + [f"{v} ) " for v in range(10)] + ["] )\n", "] ) ) "]
    return texts + ["( " * (k + 1) + f"{op} " for op in OPERATORS for k in range(2, max_args + 1)]


def _texts(levels: list, sizes: list[np.ndarray], pos: list[np.ndarray], max_args: int) -> list[str]:
    """Binarised text of each complete tree, joined from a table of pieces, one piece per prefix symbol."""
    piece = np.empty(int(sizes[0].sum()), dtype=np.int64)
    for d, ((_, sym, n_args), size, p) in enumerate(zip(levels, sizes, pos, strict=True)):
        child = int(d > 0)
        op = n_args > 0
        sym = sym.astype(np.int64)
        piece[p] = np.where(op, 22 + (sym - _OP0) * (max_args - 1) + n_args - 2, sym + 10 * child)
        piece[(p + size - 1)[op]] = 20 + child
    if not len(piece):
        return []
    # itemgetter of one index returns that piece, not a tuple; joining its characters gives it back unchanged
    return "".join(operator.itemgetter(*piece.tolist())(_pieces(max_args))).split("\n")[:-1]


def _chunk(args: tuple) -> tuple[list, np.ndarray]:
    """Kept trees among the `CHUNK_DRAWS` draws of chunk k, seeded [seed, k]: (texts or symbol bytes, values)."""
    seed, k, as_text, max_depth, max_args, min_length, max_length = args
    levels, length = _grow_levels(np.random.default_rng([seed, k]), CHUNK_DRAWS, max_depth=max_depth,
                                  max_args=max_args, max_length=max_length)
    keep = (length > min_length) & (length < max_length)
    levels = [(tree[m], sym[m], n_args[m]) for tree, sym, n_args in levels for m in [keep[tree]]]
    values, sizes = _values_and_sizes(levels)
    pos = _positions(levels, sizes)
    if as_text:
        items = _texts(levels, sizes, pos, max_args)
    else:
        raw, ends = _prefix_symbols(levels, sizes, pos).tobytes(), np.cumsum(sizes[0]).tolist()
        items = [raw[a:b] for a, b in zip([0, *ends], ends, strict=False)]
    return items, values[0].astype(np.int32)


def _chunk_results(jobs: Iterator[tuple], workers: int) -> Iterator[tuple[list, np.ndarray]]:
    """`_chunk` of each job in order; with workers > 1 up to 2 * workers jobs run ahead in spawned processes."""
    if workers == 1:
        yield from map(_chunk, jobs)
        return
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        ahead = collections.deque(pool.submit(_chunk, job) for job in itertools.islice(jobs, 2 * workers))
        try:
            while ahead:
                result = ahead.popleft().result()
                ahead.extend(pool.submit(_chunk, job) for job in itertools.islice(jobs, 1))
                yield result
        finally:
            for future in ahead:
                future.cancel()


def _distinct_trees(num: int, *, as_text: bool, seed: int, max_depth: int, max_args: int, min_length: int,
                    max_length: int, max_tries: int | None, workers: int) -> tuple[list, np.ndarray]:
    """The first `num` distinct kept trees in draw order (texts or symbol bytes) and their values."""
    if num < 0 or max_depth < 1 or max_args < 2 or not 0 <= min_length < max_length - 1 or workers < 1:
        raise ValueError(f"need num >= 0, max_depth >= 1, max_args >= 2, 0 <= min_length < max_length - 1 and "
                         f"workers >= 1; got num={num}, max_depth={max_depth}, max_args={max_args}, "
                         f"min_length={min_length}, max_length={max_length}, workers={workers}.")
    limit = max_tries if max_tries is not None else 1000 * num + 10_000
    seen: dict = {}
    jobs = ((seed, k, as_text, max_depth, max_args, min_length, max_length) for k in itertools.count())
    with contextlib.closing(_chunk_results(jobs, workers)) as results:
        for k in itertools.count():
            if len(seen) >= num:
                break
            if k * CHUNK_DRAWS >= limit:
                raise ValueError(f"generate_listops: only {len(seen)} of {num} distinct trees after {k * CHUNK_DRAWS} "
                                 f"draws; widen (min_length, max_length)=({min_length}, {max_length}) or raise "
                                 f"max_depth.")
            items, values = next(results)
            for item, value in zip(items, values.tolist(), strict=True):
                if len(seen) < num and item not in seen:
                    seen[item] = value
    return list(seen), np.fromiter(seen.values(), dtype=np.int32, count=len(seen))


def generate_listops(num: int, *, seed: int = 0, max_depth: int = 10, max_args: int = 10, min_length: int = 500,
                     max_length: int = 2000, max_tries: int | None = None, workers: int = 1
                     ) -> tuple[list[str], np.ndarray]:
    """`num` distinct ListOps expressions with min_length < length < max_length and their values 0..9.

    Draws come in chunks of `CHUNK_DRAWS` trees, chunk k seeded `[seed, k]`, consumed in order, so the result
    does not depend on `workers` (> 1 computes chunks in that many spawned processes).
    """
    return _distinct_trees(num, as_text=True, seed=seed, max_depth=max_depth, max_args=max_args,
                           min_length=min_length, max_length=max_length, max_tries=max_tries, workers=workers)


def generate_listops_ids(num: int, *, seq_len: int | None = None, seed: int = 0, max_depth: int = 10,
                         max_args: int = 10, min_length: int = 500, max_length: int = 2000,
                         max_tries: int | None = None, workers: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trees of `generate_listops` as token ids: (ids int32 [num, seq_len], values [num], lengths [num]).

    Ids follow `lra.tokenizers.listops_ids` (`<eos>` appended, zero padding); lengths count `<eos>`;
    `seq_len` defaults to `max_length`, which always fits.
    """
    trees, values = _distinct_trees(num, as_text=False, seed=seed, max_depth=max_depth, max_args=max_args,
                                    min_length=min_length, max_length=max_length, max_tries=max_tries,
                                    workers=workers)
    seq_len = max_length if seq_len is None else seq_len
    lengths = np.asarray([len(t) + 1 for t in trees], dtype=np.int32)
    if len(lengths) and lengths.max() > seq_len:
        raise ValueError(f"listops-gen: example {int(lengths.argmax())} has {lengths.max()} tokens > "
                         f"seq_len={seq_len}; pass a larger seq_len (or None for max_length).")
    ids = np.zeros((len(trees), seq_len), dtype=np.int32)
    to_id = bytes(LISTOPS_IDS[s] for s in LISTOPS_SYMBOLS).ljust(256, b"\0")  # symbol index -> token id
    for i, tree in enumerate(trees):  # row by row: flat index arrays would take 16 bytes per token
        ids[i, : len(tree)] = np.frombuffer(tree.translate(to_id), dtype=np.uint8)
    ids[np.arange(len(trees)), lengths - 1] = EOS
    return ids, values, lengths


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
    """Generated ListOps in memory (tokens and `lengths` as in `listops`); `seq_len` defaults to `max_length`."""
    n = num_train + num_val + num_test
    seq_len = max_length if seq_len is None else seq_len
    x, values, lengths = generate_listops_ids(n, seq_len=seq_len, seed=seed, max_depth=max_depth,
                                              max_args=max_args, min_length=min_length, max_length=max_length)
    part = {"train": slice(0, num_train), "val": slice(num_train, num_train + num_val),
            "test": slice(num_train + num_val, n)}
    data = {k: ArrayDataset(x[s], values[s], lengths=lengths[s]) for k, s in part.items()}
    return Task(name="listops-gen", train=data["train"], test=data["test"],
                validation=data["val"] if num_val else None, input_kind="tokens", num_classes=10, seq_len=seq_len,
                vocab_size=LISTOPS_VOCAB_SIZE, pooling="mean")
