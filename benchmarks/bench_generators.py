"""Procedural LRA data: how long ListOps trees and Pathfinder images take to generate (pure numpy, one core).

Cases time a fixed-size batch per variant with the shared harness (no reference output to compare:
the variants make different data), then print the extrapolated time for the released dataset sizes
(100,000 ListOps trees; 200,000 Pathfinder images per difficulty).
"""

from __future__ import annotations

from ssmlab.data.listops_gen import generate_listops
from ssmlab.data.pathfinder_gen import generate_pathfinder

from .harness import compare


def main(full: bool = False) -> None:
    """Time ListOps and Pathfinder generation; print per-item cost and the full-dataset extrapolation."""
    n_trees = 5000 if full else 500  # several 2,000-draw chunks, so chunk granularity does not dominate
    rows = compare("listops_gen", {
        "len_500_2000": lambda: generate_listops(n_trees, seed=1),
        "len_5_50": lambda: generate_listops(n_trees, seed=1, min_length=5, max_length=50),
    }, reference="len_500_2000", repeats=3, params={"num": n_trees})
    for r in rows:
        per = r["t_med_ms"] / n_trees
        print(f"  listops {r['variant']}: {per:.2f} ms/tree -> 100,000 trees in {per * 100:.0f} s")
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
