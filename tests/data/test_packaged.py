"""Package-shipped data: digits, UCR/UEA helpers, forecasting windows, and the missing-package error."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from ssmlab.data import make_task
from ssmlab.data.packaged import (
    AEON_TASKS,
    as_series_list,
    classification_task,
    forecasting_windows,
    label_ids,
    require_package,
    znormalise,
)


def test_digits_task_matches_sklearn():
    from sklearn.datasets import load_digits

    raw = load_digits()
    task = make_task("digits", seed=1)
    # 80 % train+validation / 20 % test (the earlier test split), validation a seeded 10 % of the 1,437
    assert task.test.x.shape == (360, 64, 1) and task.num_classes == 10
    assert task.train.x.shape == (1293, 64, 1) and task.validation.x.shape == (144, 64, 1)
    assert abs(float(task.train.x.mean())) < 1e-6 and abs(float(task.train.x.std()) - 1) < 1e-5
    parts = (task.train, task.validation, task.test)
    all_x = np.concatenate([p.x[:, :, 0] for p in parts]).astype(np.float64)
    flat = raw.images.reshape(len(raw.images), 64)
    # An affine map sends the standardised values back to the integers 0..16 of the raw images.
    lo, hi = all_x.min(), all_x.max()
    ints = (all_x - lo) / (hi - lo) * 16
    np.testing.assert_allclose(ints, np.round(ints), atol=1e-4)
    got = sorted(map(tuple, np.round(ints).astype(int).tolist()))
    assert got == sorted(map(tuple, flat.astype(int).tolist()))
    assert sorted(np.concatenate([p.y for p in parts]).tolist()) == sorted(raw.target.tolist())
    with pytest.raises(ValueError, match="test_fraction"):
        make_task("digits", test_fraction=1.5)


def test_znormalise_pad_and_labels():
    rng = np.random.default_rng(0)
    s = rng.normal(3, 2, (50, 2))
    z = znormalise(s)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
    series = as_series_list([rng.normal(size=(2, 5)), rng.normal(size=(2, 9))])  # aeon's unequal-length form
    assert [x.shape for x in series] == [(5, 2), (9, 2)]
    assert [x.shape for x in as_series_list(np.zeros((3, 2, 7)))] == [(7, 2)] * 3
    assert [x.shape for x in as_series_list(np.zeros((3, 7)))] == [(7, 1)] * 3
    ytr, yte, c = label_ids(["10", "2", "2"], ["1"])
    assert c == 3 and ytr.tolist() == [2, 1, 1] and yte.tolist() == [0]  # numeric order, not string order
    task = classification_task("toy", [rng.normal(size=(2, 5)), rng.normal(size=(2, 9))], ["a", "b"],
                               [rng.normal(size=(2, 7))], ["b"])
    assert task.train.x.shape == (2, 9, 2) and task.seq_len == 9 and task.input_dim == 2
    assert np.all(task.train.x[0, 5:] == 0) and np.all(task.test.x[0, 7:] == 0)
    np.testing.assert_allclose(task.train.x[0, :5].mean(axis=0), 0, atol=1e-6)
    assert task.train.lengths.tolist() == [5, 9] and task.test.lengths.tolist() == [7]
    (batch,) = task.test.batches(1)
    assert batch["mask"].tolist() == [[True] * 7 + [False] * 2]
    equal = classification_task("toy", [rng.normal(size=(2, 5))] * 2, ["a", "b"], [rng.normal(size=(2, 5))], ["b"])
    assert equal.train.lengths is None and equal.test.lengths is None  # nothing padded, no mask


def test_forecasting_windows_against_a_loop():
    series = np.arange(40, dtype=float) ** 1.5
    task = forecasting_windows(series, window=5, horizon=2, test_fraction=0.25, name="toy")
    n_win = 40 - 5 - 2 + 1
    assert len(task.train) + 1 + len(task.test) == n_win and len(task.test) == 8  # a gap of horizon - 1 = 1
    fit = series[: len(task.train) + 5 + 2 - 1]
    z = (series - fit.mean()) / fit.std()
    for i in [*range(len(task.train)), *range(n_win - 8, n_win)]:
        part, j = (task.train, i) if i < len(task.train) else (task.test, i - (n_win - 8))
        np.testing.assert_allclose(part.x[j, :, 0], z[i:i + 5], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(part.y[j], z[i + 5:i + 7], rtol=1e-6, atol=1e-6)
    assert task.num_classes == 0 and task.pooling == "last"
    with pytest.raises(ValueError, match="smaller window"):
        forecasting_windows(series, window=39, horizon=2, test_fraction=0.2, name="toy")


def test_missing_package_error_names_the_extra():
    with pytest.raises(ImportError, match=r"package 'no_such_pkg_xyz'.*ssmlab\[data\]"):
        require_package("no_such_pkg_xyz.datasets", "toy")
    if importlib.util.find_spec("aeon") is None:
        with pytest.raises(ImportError, match=r"task 'gunpoint'.*'aeon'.*ssmlab\[data\]"):
            make_task("gunpoint")


@pytest.mark.skipif(importlib.util.find_spec("aeon") is None, reason="aeon (extra ssmlab[data]) not installed")
@pytest.mark.parametrize("name, shape, classes", [("gunpoint", (50, 150, 1), 2), ("basic-motions", (40, 100, 6), 4),
                                                  ("japanese-vowels", (270, 29, 12), 9)])
def test_aeon_tasks(name, shape, classes):
    assert name in AEON_TASKS
    task = make_task(name)
    assert task.train.x.shape == shape and task.num_classes == classes
    assert set(task.train.y.tolist()) <= set(range(classes))
    if name == "japanese-vowels":  # variable length 7..29: lengths = the unpadded series lengths
        assert 7 <= task.train.lengths.min() and task.train.lengths.max() <= 29
        np.testing.assert_array_equal(task.train.lengths, np.count_nonzero(np.any(task.train.x != 0, axis=2), axis=1))
    else:
        assert task.train.lengths is None


def test_forecasting_validation_split_is_chronological_between_train_and_test():
    series = np.sin(np.arange(48) / 3.0) + np.arange(48) / 30.0
    task = forecasting_windows(series, window=6, horizon=3, test_fraction=0.2, val_fraction=0.1, name="toy")
    assert (len(task.train), len(task.validation), len(task.test)) == (24, 4, 8)  # 40 windows, 2 gaps of 2
    assert task.output_dim == 3 and task.objective == "per_step_regression" and task.pooling == "last"
    whole = forecasting_windows(series, window=6, horizon=3, test_fraction=0.2, name="toy")  # no val: one gap
    assert (len(whole.train), len(whole.test)) == (40 - 8 - 2, 8)


def test_forecasting_held_out_horizon_targets_were_never_earlier_targets():
    """A strictly increasing series: each target value names its time step, so the splits' target times
    can be compared directly (independently of the window arithmetic)."""
    series = np.arange(60, dtype=float) ** 1.3
    for horizon in (1, 2, 5):
        task = forecasting_windows(series, window=7, horizon=horizon, test_fraction=0.2, val_fraction=0.15,
                                   name="toy")
        train, val, test = task.train.y, task.validation.y, task.test.y
        assert train.shape[1] == val.shape[1] == test.shape[1] == horizon  # the score sees the horizon only
        assert train.max() < val.min() and val.max() < test.min(), horizon
        if horizon == 1:  # no gap is needed: consecutive windows
            assert len(train) + len(val) + len(test) == 60 - 7
    with pytest.raises(ValueError, match="leave no training windows"):
        forecasting_windows(np.arange(12.0), window=3, horizon=4, test_fraction=0.3, val_fraction=0.2, name="toy")
