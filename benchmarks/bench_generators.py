"""Procedural LRA data: how long ListOps trees and Pathfinder images take to generate (pure numpy, one core).

Cases time a fixed-size batch per variant with the shared harness (no reference output to compare:
the variants make different data), then print the extrapolated time for the released dataset sizes
(100,000 ListOps trees; 200,000 Pathfinder images per difficulty). ListOps is timed against a copy of the
previous generator (one recursive draw at a time, text built while growing), kept here as the reference; the
check is that both agree on the mean kept length (within 5 standard errors), and 100,000 trees are also
timed with workers=2 (measured with --full, else extrapolated from 10,000 and 20,000).
"""

from __future__ import annotations

import time

import numpy as np

from ssmlab.data.listops_gen import OPERATORS, generate_listops, generate_listops_ids, operator_value
from ssmlab.data.lra.tokenizers import listops_symbols
from ssmlab.data.pathfinder_gen import generate_pathfinder

from .harness import compare


class _Uniforms:
    """Uniform floats from a seeded Generator, refilled 65,536 at a time (the previous generator's stream)."""

    def __init__(self, seed: int):
        self.rng, self.buf, self.i = np.random.default_rng(seed), [], 0

    def __call__(self) -> float:
        if self.i == len(self.buf):
            self.buf, self.i = self.rng.random(65536).tolist(), 0
        self.i += 1
        return self.buf[self.i - 1]


def _reference_tree(u: _Uniforms, depth: int, budget: list[int], out: list[str], *, max_depth: int,
                    max_args: int) -> int:
    """Previous algorithm: append one subtree's text depth-first, return its value; raise once `budget` < 0."""
    if depth < max_depth and u() <= 0.25:
        op, k = OPERATORS[int(u() * 4)], 2 + int(u() * (max_args - 1))
        budget[0] -= 2
        out.append("( " * (k + 1) + op)
        args = []
        for _ in range(k):
            out.append(" ")
            args.append(_reference_tree(u, depth + 1, budget, out, max_depth=max_depth, max_args=max_args))
            out.append(" )")
        out.append(" ] )")
        return operator_value(op, args)
    budget[0] -= 1
    if budget[0] < 0:
        raise OverflowError
    out.append(str(v := int(u() * 10)))
    return v


def reference_listops(num: int, *, seed: int, max_depth: int = 10, max_args: int = 10, min_length: int = 500,
                      max_length: int = 2000) -> tuple[list[str], list[int]]:
    """The previous ListOps generator (same law, other random stream): `num` distinct kept trees and values."""
    u = _Uniforms(seed)
    seen: dict[str, int] = {}
    while len(seen) < num:
        budget, out = [max_length - 1], []
        try:
            value = _reference_tree(u, 1, budget, out, max_depth=max_depth, max_args=max_args)
        except OverflowError:
            continue
        if max_length - 1 - budget[0] > min_length:
            seen.setdefault("".join(out), value)
    return list(seen), list(seen.values())


def _kept_lengths(out: tuple) -> np.ndarray:
    """Lengths (symbols, per the definition) of generated trees: from texts, or from id lengths minus `<eos>`."""
    if len(out) == 3:
        return out[2] - 1
    return np.asarray([len(listops_symbols(s)) for s in out[0]])


def _length_gap(out: tuple, ref: tuple) -> float:
    """Difference of mean kept length between two generators, in standard errors (same law: a few at most)."""
    a, b = _kept_lengths(out), _kept_lengths(ref)
    return float(abs(a.mean() - b.mean()) / np.sqrt(a.var() / len(a) + b.var() / len(b) + 1e-12))


def _listops(full: bool) -> None:
    """Old vs new ListOps generator per kept tree, then 100,000 trees with workers=2 (measured when `full`)."""
    n_trees = 3000 if full else 600  # several 2,000-draw chunks, so chunk granularity does not dominate
    for name, opts in {"len_500_2000": {}, "len_5_50": {"min_length": 5, "max_length": 50}}.items():
        rows = compare(f"listops_gen_{name}", {
            "old": lambda o=opts: reference_listops(n_trees, seed=1, **o),
            "text": lambda o=opts: generate_listops(n_trees, seed=1, **o),
            "ids": lambda o=opts: generate_listops_ids(n_trees, seed=1, **o),
        }, reference="old", repeats=5 if full else 3, check=_length_gap, tol=5.0, params={"num": n_trees})
        for r in rows:
            per = r["t_med_ms"] / n_trees
            print(f"  listops {name} {r['variant']}: {per:.3f} ms/tree (new/old {r['ratio_vs_ref']:.3f}) -> "
                  f"100,000 trees in {per * 100:.0f} s on one core")
    # Two sizes give the fixed cost (spawning workers that import ssmlab) apart from the cost per tree.
    sizes = (100_000,) if full else (10_000, 20_000)
    secs = []
    for n in sizes:
        t0 = time.perf_counter()
        generate_listops(n, seed=0, workers=2)
        secs.append(time.perf_counter() - t0)
    if full:
        print(f"  listops len_500_2000 text, workers=2: 100,000 trees in {secs[0]:.1f} s (measured)")
    else:
        per = (secs[1] - secs[0]) / (sizes[1] - sizes[0])
        print(f"  listops len_500_2000 text, workers=2: {sizes[0]:,} in {secs[0]:.1f} s, {sizes[1]:,} in "
              f"{secs[1]:.1f} s -> 100,000 in {secs[0] + per * (100_000 - sizes[0]):.0f} s (extrapolated; fixed cost "
              f"{secs[0] - per * sizes[0]:.1f} s)")


def main(full: bool = False) -> None:
    """Time ListOps and Pathfinder generation; print per-item cost and the full-dataset extrapolation."""
    _listops(full)
    n_img = 200 if full else 16
    resolutions = (32, 64, 128) if full else (32,)
    for res in resolutions:
        variants = {d: (lambda d=d, r=res: generate_pathfinder(n_img, resolution=r, difficulty=d, seed=0))
                    for d in ("curv_baseline", "curv_contour_length_9", "curv_contour_length_14")}
        rows = compare(f"pathfinder{res}_gen", variants, reference="curv_contour_length_14", repeats=2,
                       params={"num": n_img, "resolution": res})
        for r in rows:
            per = r["t_med_ms"] / n_img
            print(f"  pathfinder{res} {r['variant']}: {per:.1f} ms/image -> 200,000 images in "
                  f"{per * 200:.0f} s on one core")
