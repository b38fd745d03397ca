"""ArrayDataset: padding lengths become a bool mask aligned with every batch; bad lengths are rejected."""

from __future__ import annotations

import numpy as np
import pytest

from ssmlab.data.dataset import ArrayDataset


def _padded(num=10, L=6, seed=0):
    """Token rows whose valid steps hold the example index + 1 and whose padding is 0."""
    lengths = np.random.default_rng(seed).integers(1, L + 1, num)
    x = np.where(np.arange(L)[None, :] < lengths[:, None], np.arange(1, num + 1)[:, None], 0).astype(np.int32)
    return x, np.arange(num, dtype=np.int32), lengths


def test_mask_follows_each_example_through_shuffling_and_sharding():
    x, y, lengths = _padded()
    ds, plain = ArrayDataset(x, y, lengths=lengths), ArrayDataset(x, y)
    seen = []
    for shard in range(3):
        kw = dict(seed=4, epoch=2, shard_index=shard, num_shards=3, drop_last=False)
        for b, p in zip(ds.batches(2, **kw), plain.batches(2, **kw), strict=True):
            assert set(b) == {"x", "y", "mask"} and set(p) == {"x", "y"}
            np.testing.assert_array_equal(b["x"], p["x"])  # the same order with and without lengths
            assert b["mask"].dtype == np.bool_ and b["mask"].shape == b["x"].shape
            np.testing.assert_array_equal(b["mask"], b["x"] != 0)  # the fixture's pads are exactly the zeros
            seen += b["y"].tolist()
    assert sorted(seen) == list(range(10))


def test_stacked_pairs_get_a_mask_per_document():
    x = np.zeros((4, 2, 5), np.int32)
    lengths = np.asarray([[1, 5], [2, 3], [5, 5], [4, 1]])
    (batch,) = ArrayDataset(x, np.zeros(4, np.int32), lengths=lengths).batches(4, shuffle=False)
    assert batch["mask"].shape == (4, 2, 5)
    np.testing.assert_array_equal(batch["mask"].sum(axis=2), lengths)
    assert batch["mask"][3, 0].tolist() == [True, True, True, True, False]


@pytest.mark.parametrize("lengths, message", [
    (np.asarray([3, 0, 2]), r"lengths must lie in 1\.\.4"),
    (np.asarray([3, 5, 2]), r"lengths must lie in 1\.\.4"),
    (np.asarray([3, 2]), r"lengths must have one entry per example, shape \(3,\)"),
    (np.asarray([[3, 2, 1]]), "lengths must have one entry per example"),
    (np.asarray([3.0, 2.0, 1.0]), "lengths must be integers"),
])
def test_bad_lengths_are_rejected(lengths, message):
    with pytest.raises(ValueError, match=message):
        ArrayDataset(np.zeros((3, 4, 1), np.float32), np.zeros(3, np.int32), lengths=lengths)
