"""Untrusted data files (issue 21): they cannot run code or escape their directory, caches follow their sources,
and loaders refuse what is wrong (naming file and line) instead of guessing. Every file is written here, small."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import time
import zipfile

import numpy as np
import numpy.testing._private.utils as np_testing_utils
import pytest
from PIL import Image

from ssmlab._atomic import remove_abandoned_temps
from ssmlab.core import filter_cache
from ssmlab.data import make_task
from ssmlab.data.lra.files import DataCacheWarning, DataFormatError, cached_arrays
from ssmlab.data.lra.image import CIFAR_GLOBALS, read_cifar_batch
from ssmlab.data.lra.listops import read_listops_tsv
from ssmlab.data.lra.pathfinder import png_pixels, read_metadata

HOUR = 3600.0


def _age(path, seconds: float) -> None:
    """Set the mtime of `path` `seconds` into the past."""
    t = time.time() - seconds
    os.utime(path, (t, t))


# ---------------------------------------------------------------- CIFAR pickles: what the format needs


def _py2_release_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """The protocol-2 stream Python 2's cPickle writes for a CIFAR-10 batch, assembled opcode by opcode.

    Python 2 `str` is SHORT_BINSTRING/BINSTRING (read back as bytes with encoding="bytes"); the array is
    `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b')` with state (1, shape, dtype, False, raw)
    and the dtype `numpy.dtype('u1', 0, 1)` with state (3, '|', None, None, None, -1, -1, 0)."""
    def s(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b

    def i(v: int) -> bytes:
        if 0 <= v < 256:
            return b"K" + bytes([v])
        if 0 <= v < 65536:
            return b"M" + v.to_bytes(2, "little")
        return b"J" + v.to_bytes(4, "little", signed=True)

    raw = data.tobytes()
    dtype = b"cnumpy\ndtype\n" + s(b"u1") + i(0) + i(1) + b"\x87R" \
        + b"(" + i(3) + s(b"|") + b"NNN" + i(-1) + i(-1) + i(0) + b"tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + i(0) + b"\x85" + s(b"b") + b"\x87R" \
        + b"(" + i(1) + i(len(data)) + i(3072) + b"\x86" + dtype + b"\x89T" + len(raw).to_bytes(4, "little") \
        + raw + b"tb"
    return (b"\x80\x02}(" + s(b"batch_label") + s(b"testing batch 1 of 1") + s(b"data") + array
            + s(b"labels") + b"](" + b"".join(i(v) for v in labels) + b"e"
            + s(b"filenames") + b"](" + s(b"a_s_000001.png") + s(b"b_s_000002.png") + b"eu.")


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (2, 3072), dtype=np.uint8), [3, 9]


def test_release_format_pickle_loads_and_is_what_plain_pickle_reads(tmp_path, batch):
    data, labels = batch
    raw = _py2_release_pickle(data, labels)
    plain = pickle.loads(raw, encoding="bytes")  # the unrestricted reader: the stream is a valid batch pickle
    assert plain[b"labels"] == labels and np.array_equal(plain[b"data"], data)
    path = tmp_path / "test_batch"
    path.write_bytes(raw)
    rgb, y = read_cifar_batch(path)
    np.testing.assert_array_equal(rgb, data.reshape(2, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_python3_repickled_batches_load(tmp_path, batch, protocol):
    """The same dict written by Python 3 + numpy (bytes keys; protocol 2 as the release has, and later ones)."""
    data, labels = batch
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"batch_label": b"", b"data": data, b"labels": labels,
                                   b"filenames": [b"x.png", b""]}, protocol=protocol))
    rgb, y = read_cifar_batch(path)
    np.testing.assert_array_equal(rgb.transpose(0, 3, 1, 2).reshape(2, 3072), data)
    np.testing.assert_array_equal(y, labels)


def test_admitted_globals_are_exactly_the_formats():
    assert set(CIFAR_GLOBALS) == {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        ("__builtin__", "bytes"), ("builtins", "bytes")}


# ---------------------------------------------------------------- CIFAR pickles: malicious files


class _Reduce:
    """Pickles as `fn(*args)`, which unpickling calls."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _payloads(marker):
    m = str(marker)
    return {
        "os.system": (_Reduce(os.system, (f"touch '{m}'",)), "system"),
        "builtins.open": (_Reduce(builtins.open, (m, "w")), "open"),
        "subprocess": (_Reduce(subprocess.check_call, (["touch", m],)), "check_call"),  # protocol 2 names it commands.
        "eval": (_Reduce(builtins.eval, (f"open({m!r}, 'w').close()",)), "eval"),
        "numpy runstring": (_Reduce(np_testing_utils.runstring, (f"open({m!r}, 'w').close()", {})),
                            "numpy.testing._private.utils.runstring"),  # a numpy function that exec()s
        "nested in the dict": ({b"data": _Reduce(os.system, (f"touch '{m}'",)), b"labels": [0]}, "system"),
    }


def _write_valid_cifar(root, n=2):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(pickle.dumps({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                                             b"labels": [int(v) for v in rng.integers(0, 10, n)]}, protocol=2))
    return d


@pytest.mark.parametrize("case", sorted(_payloads("m")))
@pytest.mark.parametrize("file", ["data_batch_1", "test_batch"])
def test_malicious_pickle_never_runs(tmp_path, case, file):
    marker = tmp_path / "marker"
    payload, refused = _payloads(marker)[case]
    d = _write_valid_cifar(tmp_path / "data")
    (d / file).write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataFormatError, match=f"refused to load the global .*{refused}") as err:
        make_task("image", data_dir=tmp_path / "data")
    assert not marker.exists()
    assert str(d / file) in str(err.value) and "may be malicious" in str(err.value)
    # The file is really malicious: the unrestricted pickle module creates the marker.
    out = pickle.loads((d / file).read_bytes(), encoding="bytes")
    if hasattr(out, "close"):
        out.close()
    assert marker.exists()


@pytest.mark.parametrize("payload, message", [
    (_Reduce(__import__("_codecs").encode, ("x", "rot13")), r"encode\(str, 'latin1'\)"),
    (_Reduce(bytes, (10**12,)), r"bytes\(\) \(the empty string\)"),
])
def test_admitted_helpers_accept_only_the_formats_use(tmp_path, payload, message):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": payload, b"labels": []}, protocol=2))
    with pytest.raises(DataFormatError, match=message) as err:
        read_cifar_batch(path)
    assert "test_batch is not a readable CIFAR-10 pickle" in str(err.value)


@pytest.mark.parametrize("target", [b"numpy._core.numeric\n_frombuffer\n", b"_codecs\nencode\n",
                                    b"numpy\nndarray\n", b"numpy\ndtype\n", b"numpy.core.multiarray\n_reconstruct\n"])
def test_pickle_cannot_modify_an_admitted_global(tmp_path, target):
    """BUILD on an admitted global with (None, {"__defaults__": (1,)}) would setattr on a shared object."""
    key = b"__defaults__"
    raw = b"\x80\x02c" + target + b"N}(X" + len(key).to_bytes(4, "little") + key + b"K\x01\x85u\x86b."
    fn = np.ndarray.__reduce_ex__(np.zeros(1), 5)[0]
    before = fn.__defaults__
    path = tmp_path / "test_batch"
    path.write_bytes(raw)
    with pytest.raises(DataFormatError, match="test_batch is not a readable CIFAR-10 pickle"):
        read_cifar_batch(path)
    assert fn.__defaults__ == before
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(np.arange(3), protocol=5)), np.arange(3))


def test_garbage_and_truncated_pickles(tmp_path, batch):
    path = tmp_path / "data_batch_2"
    path.write_bytes(_py2_release_pickle(*batch)[:500])
    with pytest.raises(DataFormatError, match="data_batch_2 is not a readable CIFAR-10 pickle"):
        read_cifar_batch(path)
    path.write_bytes(b"\x80\x02" + os.urandom(64))
    with pytest.raises(DataFormatError, match="data_batch_2"):
        read_cifar_batch(path)


# ---------------------------------------------------------------- CIFAR contents: labels and data


@pytest.mark.parametrize("labels, message", [
    ([1.5, 0], r"b'labels'\[0\] is 1.5 \(float\)"),
    ([0, "3"], r"b'labels'\[1\] is '3' \(str\)"),
    ([b"3", 0], r"b'labels'\[0\] is b'3' \(bytes\)"),
    ([[0], [1]], r"b'labels'\[0\] is \[0\] \(list\)"),
    ([True, 0], r"b'labels'\[0\] is True \(bool\)"),
    (np.array([[0], [1]]), r"found a int64 array of shape \(2, 1\)"),
    (np.array([0.0, 1.0]), "found a float64 array"),
    ([0, 10], r"b'labels'\[1\] is 10; labels must be in 0..9"),
    ([-1, 0], r"b'labels'\[0\] is -1"),
    ({0: 1}, "found dict"),
    ([0], "2 images in b'data' but 1 labels"),
])
def test_cifar_labels_are_refused_not_cast(tmp_path, labels, message):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}, protocol=2))
    with pytest.raises(DataFormatError, match=message) as err:
        read_cifar_batch(path)
    assert str(path) in str(err.value)


def test_cifar_labels_as_tuple_or_int_array_are_the_same(tmp_path):
    path = tmp_path / "b"
    for labels in ((4, 5), np.array([4, 5], np.uint8), [4, 5]):
        path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}, protocol=2))
        y = read_cifar_batch(path)[1]
        assert y.dtype == np.int32 and y.tolist() == [4, 5]


@pytest.mark.parametrize("data, message", [
    (np.zeros((0, 3072), np.uint8), "holds no images"),
    ([[0] * 3072, [0] * 3072], "expected b'data' uint8 \\[num, 3072\\]; found list"),
    (np.zeros((2, 3072), np.int64), "found int64"),
])
def test_cifar_data_refused(tmp_path, data, message):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [0, 0][:len(data)]}, protocol=2))
    with pytest.raises(DataFormatError, match=message):
        read_cifar_batch(path)


# ---------------------------------------------------------------- Pathfinder: paths from metadata


def _png(path, rng, resolution=32):
    img = rng.integers(0, 256, (resolution, resolution), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return img


def _pathfinder(tmp_path, n=4, lines_extra=()):
    """`pathfinder32/curv_contour_length_14` with n images, plus a readable PNG outside it (`secret/`)."""
    rng = np.random.default_rng(1)
    base = tmp_path / "data" / "pathfinder32" / "curv_contour_length_14"
    images = [_png(base / "imgs" / "0" / f"sample_{i}.png", rng) for i in range(n)]
    _png(tmp_path / "secret" / "sample_0.png", rng)
    lines = [f"imgs/0 sample_{i}.png {i} {i % 2} 1 14 4 2 0.5 1 1" for i in range(n)] + list(lines_extra)
    (base / "metadata").mkdir()
    (base / "metadata" / "0.npy").write_text("\n".join(lines) + "\n")
    return base, np.stack(images)


@pytest.mark.parametrize("line, message", [
    ("../../../secret sample_0.png 9 1", "'../../../secret/sample_0.png', whose directory resolves to .*secret"),
    ("imgs/0 ../../../../secret/sample_0.png 9 1", "which resolves to .*secret/sample_0.png, outside it"),
    ("{secret} sample_0.png 9 1", "an absolute path"),
    ("imgs/0 {secret}/sample_0.png 9 1", "an absolute path"),
    ("imgs/9 sample_0.png 9 1", "whose directory resolves to .*secret"),  # imgs/9 -> symlink to secret/
    ("imgs/0 link.png 9 1", "which resolves to .*secret/sample_0.png, outside it"),  # a symlinked file
])
def test_pathfinder_paths_leaving_the_dataset_are_refused(tmp_path, line, message):
    secret = tmp_path / "secret"
    base, _ = _pathfinder(tmp_path, lines_extra=[line.format(secret=secret)])
    (base / "imgs" / "9").symlink_to(secret, target_is_directory=True)
    (base / "imgs" / "0" / "link.png").symlink_to(secret / "sample_0.png")
    with pytest.raises(DataFormatError, match=message) as err:
        read_metadata(base)
    assert "0.npy line 5" in str(err.value) and "must stay inside the dataset directory" in str(err.value)


def test_pathfinder_links_inside_the_dataset_are_followed(tmp_path):
    base, images = _pathfinder(tmp_path, lines_extra=["imgs/1 sample_2.png 9 0", "imgs/0 same.png 10 1"])
    (base / "imgs" / "1").symlink_to(base / "imgs" / "0", target_is_directory=True)
    (base / "imgs" / "0" / "same.png").symlink_to("sample_3.png")
    rows = read_metadata(base)
    assert [r[0].name for r in rows[-2:]] == ["sample_2.png", "sample_3.png"]
    task = make_task("pathfinder", data_dir=tmp_path / "data", cache=False)
    assert len(task.train) + len(task.validation) + len(task.test) == 6


# ---------------------------------------------------------------- Pathfinder: 16-bit and odd images


def test_16_bit_png_converts_exactly_or_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    img8 = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    path = tmp_path / "wide.png"
    Image.fromarray(img8.astype(np.uint16) * 257).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith("I")  # Pillow reads it as 16-bit, which convert("L") would saturate
    arr, why = png_pixels(path, 32)
    assert why == "" and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr, img8)
    wide = img8.astype(np.uint16) * 257
    wide[4, 5] += 1  # a value with no exact 8-bit form
    Image.fromarray(wide).save(path)
    arr, why = png_pixels(path, 32)
    assert arr is None and "1 values that are not 8-bit values scaled by 257" in why


def test_16_bit_and_wrong_size_pngs_in_a_task(tmp_path):
    base, _ = _pathfinder(tmp_path)
    wide = np.full((32, 32), 1000, np.uint16)
    Image.fromarray(wide).save(base / "imgs" / "0" / "sample_1.png")
    with pytest.raises(DataFormatError, match=r"sample_1.png \(listed in .*0.npy line 2\) is a 16-bit image"):
        make_task("pathfinder", data_dir=tmp_path / "data", cache=False)
    task = make_task("pathfinder", data_dir=tmp_path / "data", cache=False, skip_bad=True)
    assert len(task.train) + len(task.validation) + len(task.test) == 3
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(base / "imgs" / "0" / "sample_1.png")
    with pytest.raises(DataFormatError, match="line 2\\) is 16x16, not 32x32"):
        make_task("pathfinder", data_dir=tmp_path / "data", cache=False)


# ---------------------------------------------------------------- Pathfinder and preprocessing caches


def _all_x(task):
    return np.concatenate([task.train.x, task.validation.x, task.test.x])[:, :, 0]


def test_pathfinder_cache_follows_every_image(tmp_path):
    base, images = _pathfinder(tmp_path)
    first = make_task("pathfinder", data_dir=tmp_path / "data", seed=0)
    png = base / "imgs" / "0" / "sample_2.png"
    st = png.stat()
    Image.fromarray(images[2][::-1]).save(png)  # new pixels, same byte size (random rows do not compress)
    os.utime(png, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime, as `cp -p` / `touch -r` would leave
    assert png.stat().st_size == st.st_size and png.stat().st_mtime_ns == st.st_mtime_ns
    second = make_task("pathfinder", data_dir=tmp_path / "data", seed=0)
    changed = np.flatnonzero(np.any(_all_x(first) != _all_x(second), axis=1))
    assert len(changed) == 1
    np.testing.assert_allclose(_all_x(second)[changed[0]], images[2][::-1].reshape(-1) / 255 * 2 - 1, atol=1e-6)
    assert len(list((base / ".ssmlab_cache").glob("pathfinder-*.npz"))) == 2


def _cache_file(base):
    (path,) = (base / ".ssmlab_cache").glob("pathfinder-*.npz")
    return path


def _edit_labels(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["labels"] = 1 - arrays["labels"]
    np.savez(path, **arrays)


def _without_digest(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if "sha256" not in k}
    np.savez(path, **arrays)


@pytest.mark.parametrize("damage, reason", [
    (lambda p: p.write_bytes(p.read_bytes()[:200]), "BadZipFile|EOFError|ValueError"),
    (lambda p: p.write_bytes(b"garbage " * 40), "ValueError"),
    (lambda p: p.write_bytes(b""), "EOFError|ValueError"),
    (lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").replace(p), "not an .npz"),
    (_edit_labels, "digest mismatch"),
    (_without_digest, "no digest"),
])
def test_damaged_cache_is_rebuilt_with_a_warning(tmp_path, damage, reason):
    base, _ = _pathfinder(tmp_path)
    good = make_task("pathfinder", data_dir=tmp_path / "data", seed=0)
    path = _cache_file(base)
    damage(path)
    with pytest.warns(DataCacheWarning, match=f"corrupt preprocessing cache .*pathfinder-.*({reason})"):
        again = make_task("pathfinder", data_dir=tmp_path / "data", seed=0)
    np.testing.assert_array_equal(_all_x(again), _all_x(good))
    np.testing.assert_array_equal(again.train.y, good.train.y)
    assert _cache_file(base) == path and zipfile.is_zipfile(path)
    make_task("pathfinder", data_dir=tmp_path / "data", seed=0)  # rewritten: read back without a warning


def test_cache_temps_of_killed_writers_are_removed(tmp_path):
    cache = tmp_path / "c"
    cache.mkdir()
    old = cache / "t-0123456789abcdef.npz.k1ll_d0n.tmp"  # a killed writer's, an hour old
    fresh = cache / "t-fedcba9876543210.npz.w0rk1ng_.tmp"  # a live writer's (just modified)
    other = cache / "notes.tmp"
    for p in (old, fresh, other):
        p.write_bytes(b"x")
    _age(old, 2 * HOUR)
    _age(other, 2 * HOUR)
    src = tmp_path / "src.txt"
    src.write_text("1")
    out = cached_arrays(cache, "t", [src], {}, lambda: {"v": np.arange(3)})
    assert out["v"].tolist() == [0, 1, 2]
    assert not old.exists() and fresh.exists() and other.exists()


# ---------------------------------------------------------------- filter cache temps, remove_abandoned_temps


def test_filter_cache_removes_abandoned_temps_once_per_folder(tmp_path, monkeypatch):
    folder = tmp_path / "filters"
    folder.mkdir()
    monkeypatch.setenv("SSMLAB_CACHE_DIR", str(folder))
    old = folder / "filters_v1_hankel_L16_K2_float64.npz.abcd1234.tmp"
    young = folder / "filters_v1_hankel_L32_K2_float64.npz.efgh5678.tmp"
    foreign = [folder / "notes.tmp", folder / "other.npz.abcd1234.tmp", folder / "filters_v1_x.npz.tmp"]
    for p in (old, young, *foreign):
        p.write_bytes(b"torn")
        _age(p, 2 * HOUR if p is not young else 60.0)
    filter_cache.cached_spectral_filters(seq_len=16, num_filters=2)
    assert not old.exists() and young.exists() and all(p.exists() for p in foreign)
    later = folder / "filters_v1_hankel_L8_K2_float64.npz.ijkl9012.tmp"
    later.write_bytes(b"torn")
    _age(later, 2 * HOUR)
    filter_cache.cached_spectral_filters(seq_len=16, num_filters=2)  # this folder was cleaned in this process
    assert later.exists()
    assert filter_cache.remove_stale_cache_temps() == [later]


def test_remove_abandoned_temps_matches_exactly(tmp_path):
    names = ["a.npz.abcd1234.tmp", "a.npz.abcd123.tmp", "b.npz.abcd1234.tmp", "xa.npz.abcd1234.tmp",
             "a.npz.ABCD1234.tmp"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
        _age(tmp_path / n, 10.0)
    (tmp_path / "a.npz.dir00000.tmp").mkdir()  # not a regular file
    _age(tmp_path / "a.npz.dir00000.tmp", 10.0)
    assert remove_abandoned_temps(tmp_path, r"a\.npz", older_than_s=60.0) == []
    assert remove_abandoned_temps(tmp_path, r"a\.npz", older_than_s=5.0) == [tmp_path / "a.npz.abcd1234.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(names) - {"a.npz.abcd1234.tmp"}
                                                                | {"a.npz.dir00000.tmp"})
    assert remove_abandoned_temps(tmp_path / "missing", r"a\.npz", older_than_s=0.0) == []
    with pytest.raises(ValueError, match="older_than_s must be >= 0"):
        remove_abandoned_temps(tmp_path, "a", older_than_s=-1.0)


# ---------------------------------------------------------------- ListOps


def _listops_file(tmp_path, body: str):
    path = tmp_path / "basic_test.tsv"
    path.write_text("Source\tTarget\n" + body)
    return path


@pytest.mark.parametrize("row, message", [
    ("( ( [MAX 2 ) 3 ) ]\t3.7", "expected a Target in 0..9, written as an integer .*found '3.7'"),
    ("( ( [MAX 2 ) 3 ) ]\tinf", "found 'inf'"),
    ("( ( [MAX 2 ) 3 ) ]\t1e400", "found '1e400'"),
    ("( ( [MAX 2 ) 3 ) ]\tnan", "found 'nan'"),
    ("( ( [MAX 2 ) 3 ) ]\t-1", "found '-1'"),
    ("( ( [MAX 2 ) 3 ) ]\t", "found ''"),
    ("\t5", "empty Source"),
    ("( ( ) )\t5", "empty Source"),
])
def test_listops_rows_refused_with_file_and_line(tmp_path, row, message):
    path = _listops_file(tmp_path, "5\t5\n" + row + "\n")
    with pytest.raises(DataFormatError, match=message) as err:
        read_listops_tsv(path)
    assert f"{path} line 3" in str(err.value)


def test_listops_integer_targets_and_header_only_files(tmp_path):
    seqs, labels = read_listops_tsv(_listops_file(tmp_path, "( ( [MAX 2 ) 3 ) ]\t3.0\n7\t7\n"))
    assert labels.tolist() == [3, 7] and seqs[1] == [10, 2]
    path = _listops_file(tmp_path, "")
    with pytest.raises(DataFormatError, match=f"{path} holds no examples after its header"):
        read_listops_tsv(path)
    d = tmp_path / "data" / "listops-1000"
    d.mkdir(parents=True)
    for split in ("train", "val"):
        (d / f"basic_{split}.tsv").write_text("Source\tTarget\n5\t5\n")
    (d / "basic_test.tsv").write_text("Source\tTarget\n\n")
    with pytest.raises(DataFormatError, match="basic_test.tsv holds no examples"):
        make_task("listops", data_dir=tmp_path / "data")
