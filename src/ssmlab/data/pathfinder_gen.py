"""Procedural Pathfinder / Path-X images, written from the task definition (Linsley et al. 2018) [LRA].

An image holds two *target* snakes and several *distractor* snakes (chains of short bright segments,
"paddles", separated by gaps) and two disc markers. Label 1: the markers sit on both ends of target A;
label 0: on the start of A and the end of B. Both classes show two long snakes with marked ends, so only
tracing the contour decides.

Growth (after `snakes2.py`): a snake starts from a seed paddle; paddle i runs from a_i to
b_i = a_i + paddle_length * (cos t_i, sin t_i) and the next one starts paddle_length + 2 * margin ahead of
a_i; its direction t_{i+1} = t_i + d is drawn over a grid of turns d with weight
cos^2(min(continuity * |d|, pi / 2)) times "the paddle is free" (inside the padded image and off the
occupied mask, which holds the other paddles dilated by `margin`; a snake's own previous paddle is exempt).
Seeds: A at least 2 * seed_distance from the border (clipped to the image centre when the image is
smaller), B seed_distance from A; both grow to `contour_length` paddles, one after the other, stepping
back one paddle at a dead end (ours, at most 30 times, which makes 32x32 feasible) and redrawing the pair
when that fails; a coin flip then decides which of the two is A. Distractors (`distractor_length`
paddles each) tolerate failure.
Rendering (ours, numpy only): paddles are lines `paddle_thickness` wide drawn on a 4x supersampled grid,
box-filtered down, times paddle_contrast * snake_contrast; markers are discs of `marker_radius`;
layers combine by max; uint8 = round(255 * min(x, 1)). `write_pathfinder` writes the released layout
`pathfinder{R}/<difficulty>/imgs/<k>/sample_<i>.png` + text `metadata/<k>.npy` (11 fields), which
`ssmlab.data.lra.pathfinder` reads. Batch k of `batch_size` images uses `default_rng(seed + k)` and has
exactly balanced labels (to within one).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import multiprocessing
import os
from pathlib import Path

import numpy as np
from PIL import Image

from .dataset import ArrayDataset, Task, register_task
from .lra.pathfinder import image_sequences

SUPERSAMPLE = 4
TURNS = np.deg2rad(np.arange(-180, 180, 5.0))
_TURN_COS, _TURN_SIN = np.cos(TURNS), np.sin(TURNS)
_T = np.linspace(0.0, 1.0, 6)[None, :, None]
CONTOURS = {"curv_baseline": 6, "curv_contour_length_9": 9, "curv_contour_length_14": 14}
# resolution: (paddle_length, margin, thickness, marker_radius, seed_distance, continuity, K, snake_c, paddle_c)
_RESOLUTIONS = {32: (2, 1, 0.5, 1.5, 7, 1.0, 20, 2.0, 0.75), 64: (5, 1, 1.0, 2.5, 12, 1.8, 22, 0.8, 1.0),
                128: (5, 2, 1.5, 3.0, 20, 1.8, 35, 0.9, 1.0), 256: (5, 3, 2.0, 5.0, 27, 1.8, 30, 1.0, 1.0)}


@dataclasses.dataclass(frozen=True)
class PathfinderSettings:
    """Geometry of one Pathfinder configuration (pixels of the final image)."""

    resolution: int
    contour_length: int
    distractor_length: int
    num_distractors: int
    paddle_length: float
    margin: float
    thickness: float
    marker_radius: float
    seed_distance: float
    continuity: float
    contrast: float
    padding: int = 1


def settings(resolution: int = 32, difficulty: str = "curv_contour_length_14",
             num_distractors: int | None = None, contour_length: int | None = None) -> PathfinderSettings:
    """LRA settings per resolution; distractors = K // (contour // 3) snakes of contour // 3 paddles [LRA].

    `contour_length` (paddles per target snake) and `num_distractors` override the difficulty's values
    (ours: easier curriculum levels for CPU-sized runs; distractor length stays max(1, contour // 3))."""
    if resolution not in _RESOLUTIONS:
        raise ValueError(f"resolution must be one of {sorted(_RESOLUTIONS)}; got {resolution}.")
    if difficulty not in CONTOURS:
        raise ValueError(f"difficulty must be one of {sorted(CONTOURS)}; got {difficulty!r}.")
    if contour_length is not None and contour_length < 2:
        raise ValueError(f"contour_length must be >= 2 paddles (or None for the difficulty's); got {contour_length}.")
    if num_distractors is not None and num_distractors < 0:
        raise ValueError(f"num_distractors must be >= 0 (or None for the LRA count); got {num_distractors}.")
    pl, m, th, mr, sd, cont, k, sc, pc = _RESOLUTIONS[resolution]
    contour = CONTOURS[difficulty] if contour_length is None else int(contour_length)
    dl = max(1, contour // 3)
    return PathfinderSettings(resolution=resolution, contour_length=contour, distractor_length=dl,
                              num_distractors=k // dl if num_distractors is None else int(num_distractors),
                              paddle_length=float(pl), margin=float(m), thickness=float(th),
                              marker_radius=float(mr), seed_distance=float(sd), continuity=float(cont),
                              contrast=float(sc * pc))


def _seg_dist(px, py, a, b):
    """Distance from points (px, py) to the segment a-b."""
    d = b - a
    t = np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / max(float(d @ d), 1e-12), 0.0, 1.0)
    return np.hypot(px - a[0] - t * d[0], py - a[1] - t * d[1])


def _paint(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> None:
    """Set supersampled pixels within `radius` (final-image px) of segment a-b to True / raise them to 1."""
    s = SUPERSAMPLE
    lo = np.floor((np.minimum(a, b) - radius) * s).astype(int)
    hi = np.ceil((np.maximum(a, b) + radius) * s).astype(int) + 1
    lo, hi = np.maximum(lo, 0), np.minimum(hi, canvas.shape[0])
    if np.any(hi <= lo):
        return
    xs = ((np.arange(lo[0], hi[0]) + 0.5) / s)[None, :]
    ys = ((np.arange(lo[1], hi[1]) + 0.5) / s)[:, None]
    hit = _seg_dist(xs, ys, a, b) <= radius
    view = canvas[lo[1]:hi[1], lo[0]:hi[0]]
    view[hit] = True if canvas.dtype == bool else 1.0


class _Canvas:
    """Occupancy mask (dilated paddles) on the supersampled grid."""

    def __init__(self, cfg: PathfinderSettings, occ: np.ndarray | None = None):
        self.cfg = cfg
        self.occ = np.zeros((cfg.resolution * SUPERSAMPLE,) * 2, dtype=bool) if occ is None else occ

    def copy(self) -> _Canvas:
        return _Canvas(self.cfg, self.occ.copy())

    def free(self, a: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """For candidate paddles a -> ends[j] (j over candidates), whether each lies inside and off the mask."""
        cfg = self.cfg
        pts = a[None, None, :] + _T * (ends[:, None, :] - a[None, None, :])
        lo, hi = cfg.padding + cfg.thickness, cfg.resolution - cfg.padding - cfg.thickness
        inside = np.all((pts >= lo) & (pts <= hi), axis=(1, 2))
        idx = np.clip((pts * SUPERSAMPLE).astype(int), 0, self.occ.shape[0] - 1)
        return inside & ~np.any(self.occ[idx[..., 1], idx[..., 0]], axis=1)

    def mark(self, a: np.ndarray, b: np.ndarray) -> None:
        """Add a paddle, dilated by the margin, to the occupied mask."""
        _paint(self.occ, a, b, self.cfg.margin + self.cfg.thickness / 2)


@functools.lru_cache(maxsize=8)
def _turn_table(continuity: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Turns d with nonzero weight cos^2(min(continuity * |d|, pi / 2)), their weights, cos d, sin d.

    The weight is that of the `snakes2.py` generator behind [LRA]'s Pathfinder.

    Zero-weight turns can never be drawn, so dropping them changes nothing but the work."""
    w = np.cos(np.minimum(continuity * np.abs(TURNS), np.pi / 2)) ** 2
    keep = w > 1e-12
    return TURNS[keep], w[keep], _TURN_COS[keep], _TURN_SIN[keep]


def _next_paddle(rng, canvas: _Canvas, last: tuple) -> tuple | None:
    """The next paddle after `last` = (a, b, angle), turn weighted by cos^2(min(continuity |d|, pi/2)), or None."""
    cfg = canvas.cfg
    a_prev, _, th = last
    c, s = np.cos(th), np.sin(th)
    start = a_prev + (cfg.paddle_length + 2 * cfg.margin) * np.array([c, s])
    turns, w0, tc, ts = _turn_table(cfg.continuity)
    # Directions th + d for every turn d, by the angle-sum rule.
    dirs = np.stack([c * tc - s * ts, s * tc + c * ts], axis=1)
    ends = start[None, :] + cfg.paddle_length * dirs
    cdf = np.cumsum(w0 * canvas.free(start, ends))
    if cdf[-1] <= 0:
        return None
    j = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    return start, ends[j], th + turns[j]


def _grow(rng, canvas: _Canvas, point: np.ndarray, length: int, backtracks: int = 30) -> list | None:
    """A snake of `length` paddles from `point` avoiding `canvas`; on a dead end, step back one paddle.

    The mask used for paddle i + 1 holds the other snakes and this snake's paddles before i, each with the
    gap that follows it, so that no other paddle can pass through a gap (the immediately preceding paddle
    is exempt, as the gap to it is only 2 margins). Returns None on failure.
    """
    th = np.deg2rad(rng.integers(0, 360))
    b = point + canvas.cfg.paddle_length * np.array([np.cos(th), np.sin(th)])
    if not canvas.free(point, b[None, :])[0]:
        return None
    snake, masks = [(point, b, th)], [canvas]
    while len(snake) < length:
        nxt = _next_paddle(rng, masks[-1], snake[-1])
        if nxt is None:
            backtracks -= 1
            if backtracks < 0 or len(snake) == 1:
                return None
            snake.pop()
            masks.pop()
            continue
        m = masks[-1].copy()
        m.mark(snake[-1][0], nxt[0])  # the previous paddle and the gap after it: no snake crosses a gap
        snake.append(nxt)
        masks.append(m)
    for (a, _, _), (a_next, _, _) in zip(snake[:-1], snake[1:], strict=True):
        canvas.mark(a, a_next)
    canvas.mark(snake[-1][0], snake[-1][1])
    return snake


def _targets(rng, canvas: _Canvas) -> tuple[list, list] | None:
    """Two target snakes of `contour_length` paddles from seeds `seed_distance` apart, or None."""
    cfg = canvas.cfg
    lo, hi = 2 * cfg.seed_distance, cfg.resolution - 2 * cfg.seed_distance
    if hi <= lo:
        lo, hi = cfg.resolution / 2 - 1, cfg.resolution / 2 + 1
    p = rng.uniform(lo, hi, size=2)
    phi = rng.uniform(0, 2 * np.pi)
    q = p + cfg.seed_distance * np.array([np.cos(phi), np.sin(phi)])
    sa = _grow(rng, canvas, p, cfg.contour_length)
    sb = _grow(rng, canvas, q, cfg.contour_length) if sa is not None else None
    if sa is None or sb is None:
        return None
    # The second snake grows around the first; a coin flip decides which is A so neither role is biased.
    return (sa, sb) if rng.random() < 0.5 else (sb, sa)


def _distractor(rng, canvas: _Canvas, tries: int = 10) -> list | None:
    cfg = canvas.cfg
    for _ in range(tries):
        p = rng.uniform(cfg.padding + 1, cfg.resolution - cfg.padding - 1, size=2)
        snake = _grow(rng, canvas, p, cfg.distractor_length, backtracks=5)
        if snake is not None:
            return snake
    return None


def _render(cfg: PathfinderSettings, snakes: list[list], markers: list[np.ndarray]) -> np.ndarray:
    """uint8 [R, R]: paddles at contrast, marker discs at 1, max-combined, box-filtered from the 4x grid."""
    s, r = SUPERSAMPLE, cfg.resolution
    lines = np.zeros((r * s, r * s))
    for snake in snakes:
        for a, b, _ in snake:
            _paint(lines, a, b, cfg.thickness / 2)
    dots = np.zeros_like(lines)
    for m in markers:
        _paint(dots, m, m, cfg.marker_radius)
    img = np.maximum(lines.reshape(r, s, r, s).mean(axis=(1, 3)) * cfg.contrast,
                     dots.reshape(r, s, r, s).mean(axis=(1, 3)))
    return np.round(255 * np.minimum(img, 1.0)).astype(np.uint8)


def draw_image(rng: np.random.Generator, cfg: PathfinderSettings, label: int, max_tries: int = 200) -> dict:
    """One image with its label, both target snakes (paddle lists) and the two marker centres."""
    for _ in range(max_tries):
        canvas = _Canvas(cfg)
        pair = _targets(rng, canvas)
        if pair is None:
            continue
        sa, sb = pair
        distractors = [d for d in (_distractor(rng, canvas) for _ in range(cfg.num_distractors)) if d is not None]
        markers = [sa[0][0], sa[-1][1] if label == 1 else sb[-1][1]]
        image = _render(cfg, [sa, sb, *distractors], markers)
        return {"image": image, "label": label, "targets": (sa, sb), "markers": markers,
                "num_distractors": len(distractors)}
    raise RuntimeError(f"pathfinder: could not place two target snakes in {max_tries} tries for {cfg}.")


def _batch(args: tuple) -> list[dict]:
    """Images of batch k: `default_rng(seed + k)`, labels a permutation of n // 2 zeros and ones (module level
    so that worker processes can run it)."""
    cfg, seed, k, n, keep = args
    rng = np.random.default_rng(seed + k)
    outs = []
    for label in rng.permutation(np.arange(n) % 2):
        out = draw_image(rng, cfg, int(label))
        if not keep:
            out = {"image": out["image"], "label": out["label"]}
        outs.append(out)
    return outs


def generate_pathfinder(num: int, *, resolution: int = 32, difficulty: str = "curv_contour_length_14", seed: int = 0,
                        batch_size: int = 1000, keep_geometry: bool = False, workers: int = 1,
                        num_distractors: int | None = None, contour_length: int | None = None) -> dict:
    """`num` images: {'images': uint8 [num, R, R], 'labels': int32 [num], 'batch': int32 [num], ...}.

    Batch k (of `batch_size` images) uses `default_rng(seed + k)` and exactly balanced labels (within one),
    so the output does not depend on `workers` (> 1 runs batches in that many spawned processes).
    With `keep_geometry`, 'geometry' lists each image's target snakes and markers. `num_distractors`
    and `contour_length` override the difficulty's values (see `settings`).
    """
    if num < 0 or batch_size < 1 or workers < 1:
        raise ValueError(f"need num >= 0, batch_size >= 1 and workers >= 1; got num={num}, "
                         f"batch_size={batch_size}, workers={workers}.")
    cfg = settings(resolution, difficulty, num_distractors, contour_length)
    jobs = [(cfg, seed, k, min(batch_size, num - k * batch_size), keep_geometry) for k in range(-(-num // batch_size))]
    if workers > 1 and len(jobs) > 1:
        ctx = multiprocessing.get_context("spawn")  # fork is unsafe once JAX's threads exist
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
            batches = list(pool.map(_batch, jobs))
    else:
        batches = [_batch(job) for job in jobs]
    outs = [(k, out) for k, batch in enumerate(batches) for out in batch]
    res = {"images": np.stack([o["image"] for _, o in outs]) if outs else np.zeros((0, resolution, resolution),
                                                                                 np.uint8),
           "labels": np.asarray([o["label"] for _, o in outs], dtype=np.int32),
           "batch": np.asarray([k for k, _ in outs], dtype=np.int32), "settings": cfg}
    if keep_geometry:
        res["geometry"] = [{key: o[key] for key in ("targets", "markers", "num_distractors")} for _, o in outs]
    return res


def write_pathfinder(out_dir: str | os.PathLike, *, num: int, resolution: int = 32,
                     difficulty: str = "curv_contour_length_14", seed: int = 0, batch_size: int = 1000,
                     workers: int = 1, num_distractors: int | None = None,
                     contour_length: int | None = None) -> Path:
    """Write `<out_dir>/pathfinder{R}/<difficulty>/{imgs/<k>/sample_<i>.png, metadata/<k>.npy}`; return that dir."""
    data = generate_pathfinder(num, resolution=resolution, difficulty=difficulty, seed=seed, batch_size=batch_size,
                               workers=workers, num_distractors=num_distractors, contour_length=contour_length)
    cfg: PathfinderSettings = data["settings"]
    root = Path(out_dir) / f"pathfinder{resolution}" / difficulty
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    lines: dict[int, list[str]] = {}
    for j, (img, label, k) in enumerate(zip(data["images"], data["labels"], data["batch"], strict=True)):
        i = j - int(k) * batch_size
        d = root / "imgs" / str(k)
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"sample_{i}.png")
        lines.setdefault(int(k), []).append(
            f"imgs/{k} sample_{i}.png {i} {label} {cfg.continuity} {cfg.contour_length} {cfg.distractor_length} "
            f"{cfg.paddle_length} {cfg.thickness} {cfg.margin} 1")
    for k, rows in lines.items():
        (root / "metadata" / f"{k}.npy").write_text("\n".join(rows) + "\n")
    return root


@register_task("pathfinder-gen")
def pathfinder_generated_task(*, num_train: int = 2000, num_test: int = 500, resolution: int = 32,
                              difficulty: str = "curv_contour_length_14", seed: int = 0, center: bool = True,
                              workers: int = 1, num_distractors: int | None = None,
                              contour_length: int | None = None) -> Task:
    """Generated Pathfinder in memory (same preprocessing as `pathfinder`): L = R^2, 2 classes."""
    common = dict(resolution=resolution, difficulty=difficulty, workers=workers, num_distractors=num_distractors,
                  contour_length=contour_length)
    tr = generate_pathfinder(num_train, seed=seed, **common)
    te = generate_pathfinder(num_test, seed=seed + 1_000_003, **common)
    return Task(name="pathfinder-gen", train=ArrayDataset(image_sequences(tr["images"], center=center), tr["labels"]),
                test=ArrayDataset(image_sequences(te["images"], center=center), te["labels"]), input_kind="real",
                num_classes=2, seq_len=resolution * resolution, input_dim=1, pooling="mean")
