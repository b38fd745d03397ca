"""LRA Image: sequential grayscale CIFAR-10 from the python pickles `cifar-10-batches-py/`.

Each pickle (`encoding="bytes"`) holds `b"data"`, uint8 [10000, 3072] = the R, G, B planes of 32x32
row-major images, and `b"labels"`. Preprocessing follows S4 (`basic.py`): PIL mode `L`
(ITU-R 601-2 luma, 0.299 R + 0.587 G + 0.114 B rounded in fixed point), divide by 255, normalise with
mean 122.6/255 and std 61.0/255, flatten row-major to [1024, 1]; validation = a seeded 10 % of train.
(LRA instead keeps integers 0..255 and takes the last 10 % of train as validation.)

The pickles are untrusted: they are read with `CifarUnpickler`, which resolves only the globals the
released format (Python 2 `cPickle`, protocol 2) and the same dict re-pickled by Python 3 need: numpy's
array reconstructors (`numpy.core.multiarray._reconstruct`, its numpy 2 name `numpy._core.multiarray.
_reconstruct`, and `numpy._core.numeric._frombuffer` of protocol 5), `numpy.ndarray`, `numpy.dtype`, and
for Python 3's protocol 2 `_codecs.encode` (latin-1 only) and `bytes()` (empty only). Any other global
(`os.system`, `builtins.open`, `subprocess.Popen`, ...) is refused with a `DataFormatError` naming the
file and the global, before anything from the file runs. `b"labels"` must be a list (or 1-D integer
array) of ints 0..9 and `b"data"` a uint8 [num, 3072] array; anything else is refused, naming the file
(and the first bad label's index), never cast.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from ..dataset import ArrayDataset, Task, register_task
from .files import DataFormatError, locate, require_file, split_indices

LAYOUT = "cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch (the CIFAR-10 python version)"
S4_MEAN, S4_STD = 122.6 / 255.0, 61.0 / 255.0


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    """`_codecs.encode` as Python 3's protocol-2 pickles use it for bytes: latin-1 text only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise pickle.UnpicklingError(f"_codecs.encode is admitted only as encode(str, 'latin1'); got "
                                     f"encode({type(text).__name__}, {encoding!r}, {errors!r})")
    return codecs.encode(text, "latin1")


def _empty_bytes(*args):
    """`bytes()` as Python 3's protocol-2 pickles use it for b'': no arguments only."""
    if args:
        raise pickle.UnpicklingError(f"bytes is admitted only as bytes() (the empty string); got {len(args)} "
                                     f"argument(s)")
    return b""


class _CallOnly:
    """An admitted Python function as the pickle sees it: callable, but BUILD cannot change its attributes.

    (BUILD with a (None, {"__defaults__": ...}) state would otherwise `setattr` on the shared function.)"""

    __slots__ = ("_fn",)

    def __init__(self, fn):
        object.__setattr__(self, "_fn", fn)

    def __call__(self, *args):
        return self._fn(*args)

    def __setattr__(self, name, value):
        raise pickle.UnpicklingError(f"refused to set attribute {name!r} of an admitted global")

    def __setstate__(self, state):
        raise pickle.UnpicklingError("refused to BUILD (set the state of) an admitted global")


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own reconstructors, whatever their module
_FROMBUFFER = _CallOnly(np.ndarray.__reduce_ex__(np.zeros(1), 5)[0])  # a Python function: guarded
CIFAR_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # the release (numpy 1 names)
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # the same dict pickled under numpy 2
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,  # protocol 5 (numpy 1, numpy 2 names)
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _CallOnly(_latin1_encode),  # Python 3, protocol 2: bytes as encode(str, 'latin1')
    ("__builtin__", "bytes"): _CallOnly(_empty_bytes),  # Python 3, protocol 2: b'' as bytes()
    ("builtins", "bytes"): _CallOnly(_empty_bytes),
}  # _reconstruct is a builtin and ndarray, dtype are built-in types: BUILD cannot change them


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only `CIFAR_GLOBALS`; any other global is a `DataFormatError` naming it."""

    def __init__(self, file, *, path: Path):
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str):
        try:
            return CIFAR_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            pass
        raise DataFormatError(
            f"image: {self.path}: refused to load the global {module}.{name} that this pickle asks for; a "
            f"CIFAR-10 batch needs only dicts, lists, bytes, ints and numpy arrays. The file is not the "
            f"CIFAR-10 python release (it may be malicious); replace it from cifar-10-python.tar.gz.")

    def persistent_load(self, pid):
        raise DataFormatError(f"image: {self.path}: refused a persistent id in this pickle; a CIFAR-10 batch "
                              f"has none.")


def load_cifar_pickle(path: str | os.PathLike):
    """The object in one CIFAR-10 pickle, read with `CifarUnpickler` (nothing outside `CIFAR_GLOBALS` runs)."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        return CifarUnpickler(io.BytesIO(raw), path=path).load()
    except DataFormatError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, MemoryError, RecursionError) as err:
        raise DataFormatError(f"image: {path} is not a readable CIFAR-10 pickle "
                              f"({type(err).__name__}: {err}).") from err


def _labels(path: Path, raw) -> np.ndarray:
    """`b"labels"` as int32 [num]: a list/tuple of ints or a 1-D integer array, each in 0..9; else refused."""
    if isinstance(raw, np.ndarray):
        if raw.ndim != 1 or raw.dtype.kind not in "iu":
            raise DataFormatError(f"image: {path}: b'labels' must be a list of ints 0..9 (or a 1-D integer "
                                  f"array); found a {raw.dtype} array of shape {raw.shape}.")
        values = raw.astype(np.int64)
    elif isinstance(raw, list | tuple):
        for i, v in enumerate(raw):
            if type(v) is not int:
                raise DataFormatError(f"image: {path}: b'labels'[{i}] is {v!r} ({type(v).__name__}); expected "
                                      f"a list of ints 0..9.")
        values = np.asarray(raw, dtype=np.int64) if raw else np.zeros(0, np.int64)
    else:
        raise DataFormatError(f"image: {path}: b'labels' must be a list of ints 0..9; found "
                              f"{type(raw).__name__}.")
    bad = np.flatnonzero((values < 0) | (values > 9))
    if bad.size:
        raise DataFormatError(f"image: {path}: b'labels'[{bad[0]}] is {values[bad[0]]}; labels must be in 0..9 "
                              f"(found {values.min()}..{values.max()}).")
    return values.astype(np.int32)


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 pickle -> (uint8 RGB images [num, 32, 32, 3], int32 labels); errors name the file."""
    path = Path(path)
    batch = load_cifar_pickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = sorted(map(repr, batch))[:5] if isinstance(batch, dict) else type(batch).__name__
        raise DataFormatError(f"image: {path}: expected a dict with keys b'data' and b'labels'; found {found}.")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataFormatError(f"image: {path}: expected b'data' uint8 [num, 3072]; found {found}.")
    if not len(data):
        raise DataFormatError(f"image: {path}: b'data' holds no images (shape {data.shape}); a CIFAR-10 batch "
                              f"holds 10,000.")
    labels = _labels(path, batch[b"labels"])
    if len(labels) != len(data):
        raise DataFormatError(f"image: {path}: {len(data)} images in b'data' but {len(labels)} labels.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


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
