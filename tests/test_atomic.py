import os
import stat

import numpy as np
import pytest

from ssmlab._atomic import atomic_open, atomic_savez, atomic_write_text


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write(b"partial")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_savez_round_trip(tmp_path):
    path = atomic_savez(tmp_path / "x.npz", a=np.arange(3), b=np.ones((2, 2)))
    with np.load(path) as z:
        np.testing.assert_array_equal(z["a"], np.arange(3))
        np.testing.assert_array_equal(z["b"], np.ones((2, 2)))


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_final_file_honours_umask_like_open(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "atomic.txt", "x")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    got = stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode)
    assert got == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~mask


def test_remove_stale_temps_takes_only_the_writers_own_temp_files(tmp_path):
    from ssmlab._atomic import remove_stale_temps

    ours = [tmp_path / "a.npz.x1_y2z3w.tmp", tmp_path / "b.json.abcdefgh.tmp"]
    others = [tmp_path / n for n in ("a.npz.abc.tmp", "c.npz.abcdefgh.tmp", "a.npz.ABCDEFGH.tmp", "a.npz", "x.tmp")]
    for p in ours + others:
        p.write_bytes(b"")
    assert remove_stale_temps(tmp_path, ("a.npz", "b.json")) == sorted(ours)
    assert sorted(tmp_path.iterdir()) == sorted(others)
