"""LRA Image: sequential grayscale CIFAR-10 from the python pickles `cifar-10-batches-py/`.

Each pickle (`encoding="bytes"`) holds `b"data"`, uint8 [10000, 3072] = the R, G, B planes of 32x32
row-major images, and `b"labels"`. Preprocessing follows S4 (`basic.py`): PIL mode `L`
(ITU-R 601-2 luma, 0.299 R + 0.587 G + 0.114 B rounded in fixed point), divide by 255, normalise with
mean 122.6/255 and std 61.0/255, flatten row-major to [1024, 1]; validation = a seeded 10 % of train.
(LRA instead keeps integers 0..255 and takes the last 10 % of train as validation.)
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from ..dataset import ArrayDataset, Task, register_task
from .files import DataFormatError, locate, require_file, split_indices

LAYOUT = "cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch (the CIFAR-10 python version)"
S4_MEAN, S4_STD = 122.6 / 255.0, 61.0 / 255.0


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 pickle -> (uint8 RGB images [num, 32, 32, 3], int32 labels); errors name the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise DataFormatError(f"image: {path} is not a readable CIFAR-10 pickle ({err}).") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = sorted(batch)[:5] if isinstance(batch, dict) else type(batch).__name__
        raise DataFormatError(f"image: {path}: expected a dict with keys b'data' and b'labels'; found {found}.")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataFormatError(f"image: {path}: expected b'data' uint8 [num, 3072] and as many labels; "
                              f"found {data.dtype} {data.shape} and {len(labels)} labels.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataFormatError(f"image: {path}: labels must be in 0..9; found {labels.min()}..{labels.max()}.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.int32)


def grayscale(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB [num, h, w, 3] -> uint8 luma [num, h, w] exactly as PIL `convert("L")` (S4's route)."""
    n, h, w, _ = rgb.shape
    if n == 0:
        return np.zeros((0, h, w), np.uint8)
    tall = Image.fromarray(np.ascontiguousarray(rgb.reshape(n * h, w, 3)), mode="RGB").convert("L")
    return np.asarray(tall, dtype=np.uint8).reshape(n, h, w)


def cifar_sequences(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB [num, 32, 32, 3] -> float32 [num, 1024, 1]: luma / 255, then (x - 122.6/255) / (61/255) [S4]."""
    g = grayscale(rgb).astype(np.float32) / 255.0
    return ((g - np.float32(S4_MEAN)) / np.float32(S4_STD)).reshape(len(rgb), g.shape[1] * g.shape[2], 1)


@register_task("image")
def image_task(*, data_dir: str | os.PathLike | None = None, val_fraction: float = 0.1, seed: int = 42) -> Task:
    """LRA Image (grayscale sequential CIFAR-10, 10 classes, L = 1,024) read from `<data dir>/cifar-10-batches-py/`."""
    root = locate("image", "cifar-10-batches-py", LAYOUT, data_dir)
    parts = [read_cifar_batch(require_file("image", root / f"data_batch_{i}", "CIFAR-10 training pickle"))
             for i in range(1, 6)]
    tr_rgb = np.concatenate([p[0] for p in parts])
    tr_y = np.concatenate([p[1] for p in parts])
    te_rgb, te_y = read_cifar_batch(require_file("image", root / "test_batch", "CIFAR-10 test pickle"))
    fit, held = split_indices(len(tr_y), (1 - val_fraction, val_fraction), seed)
    x = cifar_sequences(tr_rgb)
    return Task(name="image", train=ArrayDataset(x[fit], tr_y[fit]), validation=ArrayDataset(x[held], tr_y[held]),
                test=ArrayDataset(cifar_sequences(te_rgb), te_y), input_kind="real", num_classes=10, seq_len=1024,
                input_dim=1, pooling="mean")
