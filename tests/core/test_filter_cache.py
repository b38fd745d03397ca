import numpy as np
import pytest

from ssmlab.core import filter_cache
from ssmlab.core.filter_cache import (
    FilterCacheWarning,
    cache_dir,
    cache_path,
    cached_spectral_filters,
)
from ssmlab.core.hankel import spectral_filters


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    """Point the cache at a fresh temporary folder."""
    monkeypatch.setenv("SSMLAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_env_var_sets_the_folder(tmp_cache):
    assert cache_dir() == tmp_cache


def test_default_folder_is_user_cache(monkeypatch):
    monkeypatch.delenv("SSMLAB_CACHE_DIR")
    assert "ssmlab" in str(cache_dir())


def test_first_call_writes_second_call_reads(tmp_cache, monkeypatch):
    s0, p0 = cached_spectral_filters(seq_len=100, num_filters=6)
    path = cache_path(seq_len=100, num_filters=6, kind="hankel", dtype=np.float64)
    assert path.exists() and [f.name for f in tmp_cache.iterdir()] == [path.name]  # no temporary left
    ref_s, ref_p = spectral_filters(seq_len=100, num_filters=6)
    np.testing.assert_array_equal(s0, ref_s)
    np.testing.assert_array_equal(p0, ref_p)

    def fail(**kw):
        raise AssertionError("recomputed although a valid cache file exists")

    monkeypatch.setattr(filter_cache, "spectral_filters", fail)
    s1, p1 = cached_spectral_filters(seq_len=100, num_filters=6)
    np.testing.assert_array_equal(s1, s0)
    np.testing.assert_array_equal(p1, p0)


def test_keys_are_separate(tmp_cache):
    a = cached_spectral_filters(seq_len=50, num_filters=4)[1]
    b = cached_spectral_filters(seq_len=50, num_filters=4, kind="hankel_l")[1]
    c = cached_spectral_filters(seq_len=50, num_filters=4, dtype=np.float32)[1]
    d = cached_spectral_filters(seq_len=50, num_filters=5)[1]
    assert len(list(tmp_cache.iterdir())) == 4
    assert c.dtype == np.float32 and d.shape == (50, 5)
    assert not np.allclose(a, b)


def _corrupt_truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def _corrupt_garbage(path):
    path.write_bytes(b"not a zip file at all")


def _corrupt_values(path):
    # A well-formed file whose numbers changed but whose digest did not: must be caught by the checksum.
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    data["phi"] = data["phi"].copy()
    data["phi"][3, 1] += 1e-9
    np.savez(path, **data)


def _corrupt_key(path):
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    data["meta"] = np.array("v1|hankel|99|6|float64")
    np.savez(path, **data)


@pytest.mark.parametrize("corrupt", [_corrupt_truncate, _corrupt_garbage, _corrupt_values, _corrupt_key])
def test_corrupt_file_is_detected_and_recomputed(corrupt):
    ref = cached_spectral_filters(seq_len=64, num_filters=6)
    path = cache_path(seq_len=64, num_filters=6, kind="hankel", dtype=np.float64)
    corrupt(path)
    with pytest.warns(FilterCacheWarning, match="corrupt"):
        s, p = cached_spectral_filters(seq_len=64, num_filters=6)
    np.testing.assert_array_equal(p, ref[1])
    np.testing.assert_array_equal(s, ref[0])
    # The file was rewritten and is valid again: no warning on the next read.
    s2, p2 = cached_spectral_filters(seq_len=64, num_filters=6)
    np.testing.assert_array_equal(p2, ref[1])


def test_use_cache_false_touches_nothing(tmp_cache):
    cached_spectral_filters(seq_len=40, num_filters=3, use_cache=False)
    assert not tmp_cache.exists()


def test_unwritable_folder_warns_but_returns(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SSMLAB_CACHE_DIR", str(blocker / "sub"))  # parent is a file: mkdir fails
    with pytest.warns(FilterCacheWarning, match="could not write"):
        s, p = cached_spectral_filters(seq_len=30, num_filters=3)
    assert p.shape == (30, 3)
