"""Data directory resolution, the .npz cache, seeded splits and sharded batches of a loaded LRA task."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ssmlab.data import make_task
from ssmlab.data.lra.files import cached_arrays, data_root, split_indices


def write_listops(root, rows):
    """A `listops-1000/` directory with the same rows in every split."""
    d = root / "listops-1000"
    d.mkdir(parents=True)
    for split in ("train", "val", "test"):
        (d / f"basic_{split}.tsv").write_text("Source\tTarget\n" + "".join(f"{s}\t{t}\n" for s, t in rows))


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("SSMLAB_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("SSMLAB_DATA")
    assert data_root() == tmp_path / "xdg" / "ssmlab"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert data_root() == Path.home() / ".local" / "share" / "ssmlab"


def test_cache_reused_and_invalidated_by_source_change(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("1")
    calls = []

    def build():
        calls.append(1)
        return {"v": np.asarray([int(src.read_text())])}

    assert cached_arrays(tmp_path / "c", "t", [src], {"o": 1}, build)["v"][0] == 1
    assert cached_arrays(tmp_path / "c", "t", [src], {"o": 1}, build)["v"][0] == 1
    assert len(calls) == 1
    cached_arrays(tmp_path / "c", "t", [src], {"o": 2}, build)  # other options: rebuilt
    src.write_text("22")
    os.utime(src, ns=(1, 1))
    assert cached_arrays(tmp_path / "c", "t", [src], {"o": 1}, build)["v"][0] == 22
    assert len(calls) == 3
    assert not list((tmp_path / "c").glob("*.tmp*"))


def test_split_indices_partition():
    parts = split_indices(103, (0.8, 0.1, 0.1), seed=42)
    assert [len(p) for p in parts] == [82, 10, 11]
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(103))
    again = split_indices(103, (0.8, 0.1, 0.1), seed=42)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    with pytest.raises(ValueError, match="fractions"):
        split_indices(10, (0.8, 0.5), seed=0)


def test_sharded_epoch_sees_each_example_once(tmp_path):
    rows = [(f"( ( [SM {i % 10} ) {j} ) ]", str((i + j) % 10)) for i in range(6) for j in range(4)]
    write_listops(tmp_path, rows=[(f"( ( ( {s} ) ] )", t) for s, t in rows])
    task = make_task("listops", data_dir=tmp_path, seq_len=16)
    seen = []
    for shard in range(3):
        for batch in task.train.batches(2, seed=5, epoch=1, shard_index=shard, num_shards=3, drop_last=False):
            assert batch["x"].shape[1:] == (16,)
            seen.extend(batch["x"][:, :2].tolist())
    assert sorted(map(tuple, seen)) == sorted(map(tuple, task.train.x[:, :2].tolist()))


def test_tokenizers():
    from ssmlab.data.lra.tokenizers import (
        byte_ids,
        char_ids,
        char_vocabulary,
        listops_ids,
        pad_sequences,
        pad_with_lengths,
    )

    assert listops_ids("( ( [SM 1 ) 2 ) ]") == [16, 4, 5, 17, 2]
    with pytest.raises(KeyError):
        listops_ids("( [AVG 1 ) ]")
    np.testing.assert_array_equal(byte_ids("aé", max_length=2), [ord("a") + 1, 0xC3 + 1])  # cut mid-character
    vocab = char_vocabulary(["abba", "cab"], min_freq=2)
    assert vocab == {"a": 3, "b": 4}  # c (count 1) dropped; a (3) before b (3) by code point
    np.testing.assert_array_equal(char_ids("abcx", vocab, max_length=4), [3, 4, 1, 2])  # unknown -> 1, then <eos>
    with pytest.raises(ValueError, match="min_freq"):
        char_vocabulary(["a"], min_freq=0)
    np.testing.assert_array_equal(pad_sequences([[1, 2], [3]], length=3, what="t"), [[1, 2, 0], [3, 0, 0]])
    x, lengths = pad_with_lengths([[1, 2], [], [3, 4, 5]], length=3, what="t")
    np.testing.assert_array_equal(x, [[1, 2, 0], [0, 0, 0], [3, 4, 5]])
    assert lengths.tolist() == [2, 1, 3]  # an empty sequence keeps one (padding) step
