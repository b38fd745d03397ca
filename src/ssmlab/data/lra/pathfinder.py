"""LRA Pathfinder (32x32) and Path-X (128x128) from the released PNG trees.

Layout: `pathfinder{R}/<difficulty>/imgs/<k>/sample_<i>.png` (8-bit grayscale R x R) and
`pathfinder{R}/<difficulty>/metadata/<k>.npy`, which is *text* despite the suffix (a genuine .npy array of
string rows, as `np.save` in the original generator writes, is accepted too): one space-separated line
per image, of which field 0 (image sub-directory `imgs/<k>`), field 1 (file name) and field 3 (label 0/1)
are read [LRA `pathfinder.py`; S4 `PathFinderDataset`]. Metadata files are taken in integer
order of their stem. Pixels / 255, then (x - 0.5) / 0.5 -> [-1, 1] (S5; `center=False` keeps [0, 1] as S4's
config does), row-major -> [R*R, 1]. Splits: a seeded 80/10/10 permutation (S4/S5 use torch's
`random_split` with seed 42; numpy's permutation differs, so the exact split differs).
Unreadable or empty PNGs (the release has an empty `pathfinder32/curv_baseline/imgs/0/sample_172.png`)
are reported by path, and skipped only with `skip_bad=True`. A 16-bit grayscale PNG is converted exactly
when every value is an 8-bit value scaled by 257 (v16 = 257 v8, how 8-bit images are widened), and refused
otherwise (it has no exact 8-bit form).

Metadata is untrusted: every image path it names is resolved (symlinks included) and must lie inside the
difficulty directory; `..`, absolute paths and symlinks leading out of it are refused with file and line.
The preprocessing cache (`files.cached_arrays`) is keyed on the metadata files and on every image they
name (path, size, mtime and ctime), so replacing an image rebuilds it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..dataset import ArrayDataset, Task, register_task
from .files import DataFormatError, DataNotFoundError, cached_arrays, locate, read_text_lines, split_indices

DIFFICULTIES = ("curv_baseline", "curv_contour_length_9", "curv_contour_length_14")
CACHE_FORMAT = 2  # 2: keyed on every image too; 16-bit images converted exactly


def _layout(resolution: int, difficulty: str) -> str:
    return (f"pathfinder{resolution}/{difficulty}/imgs/<k>/sample_<i>.png and "
            f"pathfinder{resolution}/{difficulty}/metadata/<k>.npy (text, one line per image: "
            f"'imgs/<k> sample_<i>.png <index> <label> ...')")


def read_metadata(root: str | os.PathLike) -> list[tuple[Path, int, Path, int]]:
    """(png path, label, metadata file, line number) for every line of `<root>/metadata/*.npy`, in integer order.

    Png paths are resolved; one that leaves `root` (`..`, absolute, a symlink out) is a `DataFormatError`."""
    root = Path(root)
    inside = _PathGuard(root)
    meta_dir = root / "metadata"
    files = [f for f in meta_dir.glob("*.npy") if f.stem.isdigit()] if meta_dir.is_dir() else []
    if not files:
        raise DataNotFoundError(f"pathfinder: no metadata files {meta_dir}/<k>.npy; expected text files with one "
                                f"line per image 'imgs/<k> sample_<i>.png <index> <label 0|1> ...' beside "
                                f"{root / 'imgs'}/<k>/sample_<i>.png.")
    rows = []
    for meta in sorted(files, key=lambda f: int(f.stem)):
        for lineno, fields in enumerate(metadata_rows(meta), start=1):
            line = " ".join(fields)
            if not fields:
                continue
            if len(fields) < 4 or fields[3] not in ("0", "1"):
                raise DataFormatError(f"pathfinder: {meta} line {lineno}: expected at least 4 space-separated "
                                      f"fields 'imgs/<k> sample_<i>.png <index> <label 0|1> ...'; found {line!r}.")
            png = inside.resolve(fields[0], fields[1], where=f"{meta} line {lineno}")
            if not png.is_file():
                raise DataFormatError(f"pathfinder: {meta} line {lineno} names {png}, which does not exist.")
            rows.append((png, int(fields[3]), meta, lineno))
    return rows


class _PathGuard:
    """Resolve `<root>/<dir>/<file>` from metadata fields and refuse any result outside `root`.

    Each directory field is resolved once; a file name that is a plain name and not a symlink needs no
    further resolution, so a 200,000-image directory costs one `lstat` per image."""

    def __init__(self, root: Path):
        self.root = root
        self.real_root = root.resolve()
        self._dirs: dict[str, Path] = {}

    def _refuse(self, where: str, named: str, why: str) -> DataFormatError:
        return DataFormatError(f"pathfinder: {where} names {named!r}, {why}; image paths in the metadata must "
                               f"stay inside the dataset directory {self.real_root} (no '..', absolute paths, or "
                               f"symlinks leading out of it; copy or bind-mount images kept elsewhere).")

    def resolve(self, directory: str, name: str, *, where: str) -> Path:
        named = f"{directory}/{name}"
        if Path(directory).is_absolute() or Path(name).is_absolute():
            raise self._refuse(where, named, "an absolute path")
        real_dir = self._dirs.get(directory)
        if real_dir is None:
            real_dir = self._dirs[directory] = (self.root / directory).resolve()
        if not real_dir.is_relative_to(self.real_root):
            raise self._refuse(where, named, f"whose directory resolves to {real_dir}, outside it")
        path = real_dir / name
        if len(Path(name).parts) != 1 or name in (".", "..") or path.is_symlink():
            path = path.resolve()
            if not path.is_relative_to(self.real_root):
                raise self._refuse(where, named, f"which resolves to {path}, outside it")
        return path


def metadata_rows(meta: Path) -> list[list[str]]:
    """Fields of each line of one metadata file: text (the LRA release), or a real .npy string array as
    the original generator's `np.save` writes it (rows of fields)."""
    with open(meta, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        return [line.split() for line in read_text_lines(meta, "pathfinder")]
    try:
        arr = np.load(meta, allow_pickle=False)
    except ValueError as err:
        raise DataFormatError(f"pathfinder: {meta} is a .npy file that numpy cannot read without pickle ({err}); "
                              f"expected text lines or a string array of rows.") from err
    return [[str(v) for v in np.atleast_1d(row)] for row in np.atleast_2d(arr)]


_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # Pillow's modes for 16-bit grayscale PNGs


def png_pixels(path: Path, resolution: int) -> tuple[np.ndarray | None, str]:
    """(8-bit grayscale [R, R] image, "") or (None, why it cannot be used: empty, unreadable, wrong size, ...).

    16-bit grayscale becomes v // 257 when every value is a multiple of 257 (exact), else it is refused."""
    try:
        if path.stat().st_size == 0:
            return None, "is empty"
        with Image.open(path) as img:
            if img.size != (resolution, resolution):  # checked before decoding, so a huge image is never decoded
                return None, f"is {img.size[0]}x{img.size[1]}, not {resolution}x{resolution}"
            img.load()
            if img.mode in _WIDE_MODES:
                wide = np.asarray(img).astype(np.int64)
                if wide.min() < 0 or wide.max() > 65535:
                    return None, f"holds values {wide.min()}..{wide.max()}, outside 16-bit 0..65535"
                inexact = np.count_nonzero(wide % 257)
                if inexact:
                    return None, (f"is a 16-bit image with {inexact} values that are not 8-bit values scaled by "
                                  f"257, so it has no exact 8-bit form; convert it to 8-bit grayscale")
                arr = (wide // 257).astype(np.uint8)
            elif img.mode == "F":
                return None, "holds floating-point pixels; expected 8-bit grayscale"
            else:
                arr = np.asarray(img.convert("L") if img.mode != "L" else img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return None, f"is unreadable ({type(err).__name__}: {err})"
    return arr, ""


def read_png(path: Path, resolution: int) -> np.ndarray | None:
    """8-bit grayscale [R, R] image, or None if the file is empty or not a readable image of that size."""
    return png_pixels(path, resolution)[0]


def read_pathfinder_dir(root: str | os.PathLike, *, resolution: int, skip_bad: bool = False
                        ) -> tuple[np.ndarray, np.ndarray]:
    """All images [num, R, R] uint8 and labels int32 of one difficulty directory, in metadata order."""
    return _read_rows(root, read_metadata(root), resolution=resolution, skip_bad=skip_bad)


def _read_rows(root, rows, *, resolution: int, skip_bad: bool) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for png, label, meta, lineno in rows:
        img, why = png_pixels(png, resolution)
        if img is None:
            if skip_bad:
                continue
            raise DataFormatError(f"pathfinder: {png} (listed in {meta} line {lineno}) {why}; expected "
                                  f"{resolution}x{resolution} 8-bit grayscale; pass skip_bad=True to skip it.")
        images.append(img)
        labels.append(label)
    if not images:
        raise DataFormatError(f"pathfinder: no readable images under {root}.")
    return np.stack(images), np.asarray(labels, dtype=np.int32)


def image_sequences(images: np.ndarray, *, center: bool = True) -> np.ndarray:
    """uint8 [num, R, R] -> float32 [num, R*R, 1]: x / 255, then (x - 0.5) / 0.5 if `center` [S5 Pathfinder]."""
    x = images.astype(np.float32) / np.float32(255.0)
    if center:
        x = (x - np.float32(0.5)) / np.float32(0.5)
    return x.reshape(len(images), images.shape[1] * images.shape[2], 1)


def pathfinder_task_from_dir(root: str | os.PathLike, *, resolution: int, name: str, center: bool = True,
                             skip_bad: bool = False, seed: int = 42, cache: bool = True) -> Task:
    """Build a Pathfinder task (80/10/10 seeded split) from one `pathfinder{R}/<difficulty>` directory."""
    root = Path(root)
    rows = read_metadata(root)

    def build() -> dict[str, np.ndarray]:
        images, labels = _read_rows(root, rows, resolution=resolution, skip_bad=skip_bad)
        return {"images": images, "labels": labels}

    sources = sorted(set((root / "metadata").glob("*.npy")) | {png for png, _, _, _ in rows})
    opts = dict(resolution=resolution, skip_bad=skip_bad, format=CACHE_FORMAT)
    a = cached_arrays(root / ".ssmlab_cache" if cache else None, "pathfinder", sources, opts, build)
    train, val, test = split_indices(len(a["labels"]), (0.8, 0.1, 0.1), seed)

    def ds(idx: np.ndarray) -> ArrayDataset:
        return ArrayDataset(image_sequences(a["images"][idx], center=center), a["labels"][idx])

    return Task(name=name, train=ds(train), validation=ds(val), test=ds(test), input_kind="real", num_classes=2,
                seq_len=resolution * resolution, input_dim=1, pooling="mean")


def _task(name: str, resolution: int, data_dir, difficulty: str, **options) -> Task:
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}; got {difficulty!r}.")
    root = locate(name, f"pathfinder{resolution}/{difficulty}", _layout(resolution, difficulty), data_dir,
                  generate_hint=True)
    return pathfinder_task_from_dir(root, resolution=resolution, name=name, **options)


@register_task("pathfinder")
def pathfinder_task(*, data_dir: str | os.PathLike | None = None, difficulty: str = "curv_contour_length_14",
                    resolution: int = 32, center: bool = True, skip_bad: bool = False, seed: int = 42,
                    cache: bool = True) -> Task:
    """LRA Pathfinder (2 classes, L = R^2 = 1,024 by default) from `<data dir>/pathfinder{R}/<difficulty>/`."""
    return _task("pathfinder", resolution, data_dir, difficulty, center=center, skip_bad=skip_bad, seed=seed,
                 cache=cache)


@register_task("pathx")
def pathx_task(*, data_dir: str | os.PathLike | None = None, difficulty: str = "curv_contour_length_14",
               center: bool = True, skip_bad: bool = False, seed: int = 42, cache: bool = True) -> Task:
    """LRA Path-X (Pathfinder at 128x128, L = 16,384) from `<data dir>/pathfinder128/<difficulty>/`.

    Float32 sequences of the full 200,000 images take about 13 GB of memory.
    """
    return _task("pathx", 128, data_dir, difficulty, center=center, skip_bad=skip_bad, seed=seed, cache=cache)
