"""Validation splits: a deterministic hold-out of train where the data has none; digits' three splits."""

import numpy as np
import pytest

from ssmlab.data import make_task
from ssmlab.data.dataset import ArrayDataset, Task, holdout_indices, holdout_split, with_validation
from ssmlab.data.lra.files import split_indices


def _task(n=20, validation=None):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3, 1)
    return Task(name="t", train=ArrayDataset(x, np.arange(n) % 2, lengths=np.full(n, 3)),
                test=ArrayDataset(x[:2], np.zeros(2, int)), input_kind="real", num_classes=2, seq_len=3,
                validation=validation)


def test_holdout_is_deterministic_disjoint_and_complete():
    rest, held = holdout_indices(20, 0.1, 0)
    assert len(held) == 2 and len(rest) == 18 and sorted(np.concatenate([rest, held])) == list(range(20))
    again = holdout_indices(20, 0.1, 0)
    assert all(np.array_equal(a, b) for a, b in zip((rest, held), again, strict=True))
    assert not np.array_equal(holdout_indices(20, 0.1, 1)[1], held)
    assert len(holdout_indices(3, 0.1, 0)[1]) == 1  # at least one example
    with pytest.raises(ValueError, match="cannot hold out"):
        holdout_indices(1, 0.1, 0)
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        holdout_indices(10, 1.0, 0)


def test_with_validation_holds_out_train_and_keeps_an_existing_split():
    task = _task()
    split = with_validation(task)
    train, val = holdout_split(task.train)
    for a, b in ((split.train, train), (split.validation, val)):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.lengths, b.lengths)
    assert len(split.train) + len(split.validation) == len(task.train) and split.test is task.test
    seen = {tuple(r.ravel()) for r in split.train.x}
    assert not any(tuple(r.ravel()) in seen for r in split.validation.x)
    own = _task(validation=ArrayDataset(task.train.x[:3], task.train.y[:3]))
    assert with_validation(own) is own


def test_digits_has_a_validation_split_and_keeps_its_test_set():
    task = make_task("digits")
    from sklearn.datasets import load_digits

    y = load_digits().target
    _, test = split_indices(len(y), (0.8, 0.2), 0)  # the test split of earlier versions, unchanged
    np.testing.assert_array_equal(task.test.y, y[test])
    assert (len(task.train), len(task.validation), len(task.test)) == (1293, 144, 360)
    rows = lambda d: {r.tobytes() for r in d.x}  # noqa: E731
    assert not rows(task.train) & rows(task.validation) and not rows(task.validation) & rows(task.test)
