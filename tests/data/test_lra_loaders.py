"""LRA loaders read tiny files written here in the released formats; malformed files give clear errors."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
from PIL import Image

from ssmlab.data import make_task
from ssmlab.data.lra.files import DataFormatError, DataNotFoundError
from ssmlab.data.lra.image import grayscale
from ssmlab.data.lra.listops import read_listops_tsv

LISTOPS_ROWS = [("( ( ( [MAX 2 ) 9 ) ] )", "9"), ("( ( ( [SM 3 ) 4 ) ] )", "7"), ("5", "5"),
                ("( ( ( ( [MIN 8 ) ( ( [MED 1 ) 2 ) ] ) ) 6 ) ] )", "1")]


def write_listops(root, rows=LISTOPS_ROWS, *, bad: str | None = None):
    """`listops-1000/basic_{train,val,test}.tsv` with a header; `bad` replaces the test file's first row."""
    d = root / "listops-1000"
    d.mkdir(parents=True)
    for split in ("train", "val", "test"):
        body = [f"{s}\t{t}" for s, t in rows]
        if bad is not None and split == "test":
            body[0] = bad
        (d / f"basic_{split}.tsv").write_text("Source\tTarget\n" + "\n".join(body) + "\n")
    return d


def write_imdb(root):
    """`aclImdb/{train,test}/{pos,neg}/<id>_<stars>.txt`, 2 files per class, non-ASCII text and <br />."""
    texts = {}
    for split in ("train", "test"):
        for sub, stars in (("pos", 9), ("neg", 2)):
            d = root / "aclImdb" / split / sub
            d.mkdir(parents=True)
            for i in range(2):
                t = f"{split} {sub} review {i}: café <br />été" + " long" * (i * 3)
                (d / f"{i + 10 * (sub == 'pos')}_{stars}.txt").write_text(t, encoding="utf-8")
                texts[(split, sub, i)] = t
    (root / "aclImdb" / "train" / "unsup").mkdir()
    return texts


AAN_ROWS = [("1", "a1", "b1", 'first "quoted doc', "second doc"), ("0.0", "a2", "b2", "xyz", "pqr stuv"),
            ("1.0", "a3", "b3", "é", "hello"), ("0", "a4", "b4", "one", "two")]


def write_aan(root, rows=AAN_ROWS):
    """`tsv_data/new_aan_pairs.{train,eval,test}.tsv`, 5 columns, no header, labels `1` and `0.0`."""
    d = root / "tsv_data"
    d.mkdir(parents=True)
    for split in ("train", "eval", "test"):
        (d / f"new_aan_pairs.{split}.tsv").write_text("\n".join("\t".join(r) for r in rows) + "\n")


def write_cifar(root, n=20, seed=0):
    """`cifar-10-batches-py/` with five train pickles and one test pickle (bytes keys, protocol 2)."""
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        with open(d / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f, protocol=2)
        out[name] = (data, labels)
    return out


def write_pathfinder(root, *, resolution=32, n=8, empty_index: int | None = 3, seed=0):
    """`pathfinder{R}/curv_contour_length_14/{imgs/0/sample_i.png, metadata/0.npy}` with Pillow PNGs."""
    rng = np.random.default_rng(seed)
    base = root / f"pathfinder{resolution}" / "curv_contour_length_14"
    (base / "imgs" / "0").mkdir(parents=True)
    (base / "metadata").mkdir()
    lines, images, labels = [], [], []
    for i in range(n):
        path = base / "imgs" / "0" / f"sample_{i}.png"
        label = i % 2
        if i == empty_index:
            path.write_bytes(b"")
        else:
            img = rng.integers(0, 256, (resolution, resolution), dtype=np.uint8)
            Image.fromarray(img).save(path)
            images.append(img)
            labels.append(label)
        lines.append(f"imgs/0 sample_{i}.png {i} {label} 1 14 4 2 0.5 1 1")
    (base / "metadata" / "0.npy").write_text("\n".join(lines) + "\n")
    return base, np.stack(images), np.asarray(labels)


# ---------------------------------------------------------------- ListOps


def test_listops_token_ids_and_labels(tmp_path):
    write_listops(tmp_path)
    task = make_task("listops", data_dir=tmp_path, seq_len=None)
    # '( ( ( [MAX 2 ) 9 ) ] )' -> [MAX 2 9 X <eos> = 14, 5, 12, 17, 2 (fixed ids: digit d -> d + 3).
    np.testing.assert_array_equal(task.train.x[0, :5], [14, 5, 12, 17, 2])
    assert task.seq_len == 9 and task.train.x.shape == (4, 9) and task.vocab_size == 18
    np.testing.assert_array_equal(task.train.x[2, :3], [8, 2, 0])  # bare value '5' then <eos>, then padding
    np.testing.assert_array_equal(task.train.y, [9, 7, 5, 1])
    assert len(task.validation) == len(task.test) == 4 and task.input_kind == "tokens"
    assert make_task("listops", data_dir=tmp_path).train.x.shape == (4, 2048)


def test_listops_lengths_count_the_tokens_of_each_row(tmp_path):
    write_listops(tmp_path)
    task = make_task("listops", data_dir=tmp_path, seq_len=12)
    # independent count: operators, digits and closing brackets of the source, plus <eos>
    want = [len(re.findall(r"\[[A-Z]+|\d|\]", source)) + 1 for source, _ in LISTOPS_ROWS]
    assert want == [5, 5, 2, 9]
    for split in (task.train, task.validation, task.test):
        np.testing.assert_array_equal(split.lengths, want)
        (batch,) = split.batches(4, shuffle=False)
        np.testing.assert_array_equal(batch["mask"], batch["x"] != 0)  # no valid token has id 0


def test_listops_labels_match_an_independent_evaluator(tmp_path):
    """The fixture targets are what a direct evaluator of the tokenised prefix expression returns."""
    write_listops(tmp_path)
    seqs, labels = read_listops_tsv(tmp_path / "listops-1000" / "basic_train.tsv")
    ops = {13: min, 14: max, 15: lambda a: int(np.median(a)), 16: lambda a: sum(a) % 10}
    for seq, label in zip(seqs, labels, strict=True):
        stack: list = []
        for t in seq[:-1]:
            if t in ops:
                stack.append((t, []))
            elif t == 17:
                op, args = stack.pop()
                val = ops[op](args)
                (stack[-1][1].append(val) if stack else stack.append(val))
            else:
                (stack[-1][1].append(t - 3) if stack else stack.append(t - 3))
        assert stack == [label]


@pytest.mark.parametrize("bad, message", [("( [FOO 3 ) ]\t3", r"unknown token '\[FOO'"),
                                          ("( [MAX 3 ) ]", "expected 2 tab-separated columns"),
                                          ("( [MAX 3 ) ]\t12", "expected a Target in 0..9")])
def test_listops_malformed_rows_name_file_and_line(tmp_path, bad, message):
    write_listops(tmp_path, bad=bad)
    with pytest.raises(DataFormatError, match=message) as err:
        make_task("listops", data_dir=tmp_path)
    assert "basic_test.tsv line 2" in str(err.value)


def test_listops_header_and_length_errors(tmp_path):
    d = write_listops(tmp_path)
    with pytest.raises(ValueError, match="seq_len=4"):
        make_task("listops", data_dir=tmp_path, seq_len=4)
    (d / "basic_val.tsv").write_text("a\tb\n")
    with pytest.raises(DataFormatError, match="line 1: expected the header"):
        make_task("listops", data_dir=tmp_path)
    (d / "basic_val.tsv").unlink()
    with pytest.raises(DataNotFoundError, match="basic_val.tsv"):
        make_task("listops", data_dir=tmp_path)


def test_missing_directory_lists_paths_and_layout(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        make_task("listops", data_dir=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "lra_release" / "lra_release" / "listops-1000") in msg
    assert "basic_train.tsv" in msg and "listops_gen" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_nested_lra_release_layout_and_env_var(tmp_path, monkeypatch):
    write_listops(tmp_path / "lra_release" / "lra_release")
    monkeypatch.setenv("SSMLAB_DATA", str(tmp_path))
    assert len(make_task("listops").train) == 4


# ---------------------------------------------------------------- Text


def test_text_bytes_and_chars(tmp_path):
    texts = write_imdb(tmp_path)
    task = make_task("text", data_dir=tmp_path, seq_len=64, val="test")
    assert task.train.x.shape == (4, 64) and task.vocab_size == 257 and task.num_classes == 2
    # Sorted by review id within neg then pos: neg 0, neg 1, pos 10, pos 11.
    np.testing.assert_array_equal(task.train.y, [0, 0, 1, 1])
    raw = texts[("train", "neg", 0)].encode("utf-8")
    np.testing.assert_array_equal(task.train.x[0, :len(raw)], np.frombuffer(raw, np.uint8).astype(int) + 1)
    assert np.all(task.train.x[0, len(raw):] == 0)
    assert task.validation is task.test
    keys = [(sub, i) for sub in ("neg", "pos") for i in range(2)]  # the order of the examples
    for split, data in (("train", task.train), ("test", task.test)):
        want = [min(len(texts[(split, *k)].encode("utf-8")), 64) for k in keys]
        np.testing.assert_array_equal(data.lengths, want)
    cached = make_task("text", data_dir=tmp_path, seq_len=64, val="test")  # read back from the cache
    np.testing.assert_array_equal(cached.train.lengths, task.train.lengths)

    chars = make_task("text", data_dir=tmp_path, seq_len=16, tokenizer="chars", min_freq=1, val="test", cache=False)
    first = texts[("train", "neg", 0)][:15]
    ids = chars.train.x[0]
    assert ids[15] == 2 and np.all(ids[:15] >= 3)  # 15 characters, then <eos>
    assert len(set(first)) == len(set(ids[:15].tolist()))  # a bijection on the characters seen
    test_text = texts[("test", "neg", 0)]
    assert chars.vocab_size == 3 + len(set("".join(texts[k] for k in texts if k[0] == "train")))
    assert len(set(test_text[:15])) == len(set(chars.test.x[0, :15].tolist()))
    want = [min(len(texts[("train", sub, i)]), 15) + 1 for sub in ("neg", "pos") for i in range(2)]  # + <eos>
    np.testing.assert_array_equal(chars.train.lengths, want)


def test_text_validation_split_and_errors(tmp_path):
    write_imdb(tmp_path)
    task = make_task("text", data_dir=tmp_path, seq_len=32, val_fraction=0.25, seed=1)
    assert len(task.train) == 3 and len(task.validation) == 1 and len(task.test) == 4
    for data in (task.train, task.validation):
        np.testing.assert_array_equal(data.lengths, np.count_nonzero(data.x, axis=1))  # byte ids are >= 1
    assert task.train.lengths.max() == 32  # reviews of up to 52 bytes are cut to seq_len
    with pytest.raises(ValueError, match="tokenizer must be"):
        make_task("text", data_dir=tmp_path, tokenizer="words")
    (tmp_path / "aclImdb" / "test" / "pos" / "99_8.txt").write_bytes(b"bad \xff byte")
    with pytest.raises(DataFormatError, match=r"99_8.txt is not valid UTF-8 \(byte 4"):
        make_task("text", data_dir=tmp_path, cache=False)


# ---------------------------------------------------------------- Retrieval


def test_retrieval_pairs_concat_and_stack(tmp_path):
    write_aan(tmp_path)
    stack = make_task("retrieval", data_dir=tmp_path, seq_len=8, pair="stack")
    assert stack.train.x.shape == (4, 2, 8) and stack.seq_len == 8
    np.testing.assert_array_equal(stack.train.y, [1, 0, 1, 0])
    expect = np.frombuffer(b'first "q', np.uint8).astype(int) + 1  # the quote is kept (no quote handling)
    np.testing.assert_array_equal(stack.train.x[0, 0], expect)
    np.testing.assert_array_equal(stack.train.x[1, 1, :8], np.r_[np.frombuffer(b"pqr stuv", np.uint8) + 1])
    counts = [[min(len(r[3].encode("utf-8")), 8), min(len(r[4].encode("utf-8")), 8)] for r in AAN_ROWS]
    np.testing.assert_array_equal(stack.train.lengths, counts)
    (batch,) = stack.train.batches(4, shuffle=False)
    assert batch["mask"].shape == (4, 2, 8)
    concat = make_task("retrieval", data_dir=tmp_path, seq_len=8)
    assert concat.train.x.shape == (4, 16) and concat.seq_len == 16
    # packed: the bytes of document 1 (cut to 8), then those of document 2, then padding
    for row, (_, _, _, a, b) in zip(concat.train.x, AAN_ROWS, strict=True):
        ids = np.frombuffer(a.encode("utf-8")[:8] + b.encode("utf-8")[:8], np.uint8).astype(int) + 1
        np.testing.assert_array_equal(row, np.r_[ids, np.zeros(16 - len(ids), int)])
    np.testing.assert_array_equal(concat.train.lengths, np.sum(counts, axis=1))
    np.testing.assert_array_equal(concat.train.x[2, :3], [0xC3 + 1, 0xA9 + 1, ord("h") + 1])  # 'é' is two bytes
    cached = make_task("retrieval", data_dir=tmp_path, seq_len=8)  # packed again from the cache
    np.testing.assert_array_equal(cached.test.x, concat.test.x)
    chars = make_task("retrieval", data_dir=tmp_path, seq_len=6, tokenizer="chars", pair="stack", cache=False)
    assert chars.train.x[1, 0, :4].tolist()[-1] == 2 and chars.train.x[1, 0, 4] == 0  # 'xyz' + <eos>, padding
    assert chars.train.lengths[1].tolist() == [4, 6]  # 'xyz' + <eos>; 'pqr stuv' cut to 5 + <eos>


def test_retrieval_empty_documents_get_length_one(tmp_path):
    write_aan(tmp_path, rows=AAN_ROWS + [("1", "a5", "b5", "", "")])
    task = make_task("retrieval", data_dir=tmp_path, seq_len=4, cache=False)
    assert task.train.lengths[-1] == 1 and not task.train.x[-1].any()
    stack = make_task("retrieval", data_dir=tmp_path, seq_len=4, pair="stack", cache=False)
    assert stack.train.lengths[-1].tolist() == [1, 1]


@pytest.mark.parametrize("row, message", [(("1", "a", "b", "only four"), "expected 5 tab-separated columns"),
                                          (("yes", "a", "b", "c", "d"), "expected a label 0 or 1")])
def test_retrieval_malformed(tmp_path, row, message):
    write_aan(tmp_path, rows=AAN_ROWS + [row])
    with pytest.raises(DataFormatError, match=message) as err:
        make_task("retrieval", data_dir=tmp_path, cache=False)
    assert "new_aan_pairs.train.tsv line 5" in str(err.value)


# ---------------------------------------------------------------- Image


def test_cifar_grayscale_normalisation_and_split(tmp_path):
    raw = write_cifar(tmp_path)
    task = make_task("image", data_dir=tmp_path)
    assert task.train.x.shape == (90, 1024, 1) and len(task.validation) == 10 and task.test.x.dtype == np.float32
    data, labels = raw["test_batch"]
    np.testing.assert_array_equal(task.test.y, labels)
    # Independent luma: ITU-R 601-2 in float, rounded; PIL's fixed-point result may differ by one level.
    r, g, b = (data[:, c * 1024:(c + 1) * 1024].astype(float) for c in range(3))
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    ours = task.test.x[:, :, 0].astype(np.float64) * (61.0 / 255) + 122.6 / 255
    assert np.max(np.abs(ours * 255 - luma)) <= 0.5 + 1e-3
    rgb = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(grayscale(rgb)[3], np.asarray(Image.fromarray(rgb[3]).convert("L")))
    all_y = np.sort(np.concatenate([task.train.y, task.validation.y]))
    np.testing.assert_array_equal(all_y, np.sort(np.concatenate([raw[f"data_batch_{i}"][1] for i in range(1, 6)])))


def test_cifar_malformed(tmp_path):
    write_cifar(tmp_path, n=2)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f, protocol=2)
    with pytest.raises(DataFormatError, match=r"data_batch_3: expected b'data' uint8 \[num, 3072\]"):
        make_task("image", data_dir=tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataNotFoundError, match="data_batch_3"):
        make_task("image", data_dir=tmp_path)


# ---------------------------------------------------------------- Pathfinder


def test_pathfinder_reads_pngs_metadata_and_skips_bad_only_on_request(tmp_path):
    base, images, labels = write_pathfinder(tmp_path)
    with pytest.raises(DataFormatError, match=r"sample_3.png \(listed in .*0.npy line 4\) is empty"):
        make_task("pathfinder", data_dir=tmp_path)
    task = make_task("pathfinder", data_dir=tmp_path, skip_bad=True, seed=0)
    assert len(task.train) + len(task.validation) + len(task.test) == 7
    assert task.train.x.shape[1:] == (1024, 1) and task.seq_len == 1024
    x = np.concatenate([task.train.x, task.validation.x, task.test.x])[:, :, 0]
    y = np.concatenate([task.train.y, task.validation.y, task.test.y])
    want = images.reshape(7, -1) / 255.0 * 2 - 1
    # Match every example to its source image (split order is a permutation).
    for row, label in zip(x, y, strict=True):
        i = int(np.argmin(np.abs(want - row[None, :]).sum(axis=1)))
        np.testing.assert_allclose(row, want[i], atol=1e-6)
        assert label == labels[i]
    unc = make_task("pathfinder", data_dir=tmp_path, skip_bad=True, seed=0, center=False, cache=False)
    np.testing.assert_allclose(unc.train.x, (task.train.x + 1) / 2, atol=1e-6)


def test_pathfinder_metadata_errors(tmp_path):
    base, _, _ = write_pathfinder(tmp_path, empty_index=None)
    meta = base / "metadata" / "0.npy"
    meta.write_text(meta.read_text() + "imgs/0 sample_99.png 99 1 1 14 4 2 0.5 1 1\n")
    with pytest.raises(DataFormatError, match=r"0.npy line 9 names .*sample_99.png, which does not exist"):
        make_task("pathfinder", data_dir=tmp_path, cache=False)
    meta.write_text("imgs/0 sample_0.png 0\n")
    with pytest.raises(DataFormatError, match="line 1: expected at least 4"):
        make_task("pathfinder", data_dir=tmp_path, cache=False)
    with pytest.raises(DataNotFoundError, match="pathfinder128/curv_contour_length_14"):
        make_task("pathx", data_dir=tmp_path)
    with pytest.raises(ValueError, match="difficulty must be one of"):
        make_task("pathfinder", data_dir=tmp_path, difficulty="hard")


def test_pathfinder_without_metadata(tmp_path):
    base, _, _ = write_pathfinder(tmp_path, empty_index=None, n=2)
    (base / "metadata" / "0.npy").unlink()
    with pytest.raises(DataNotFoundError, match=r"no metadata files .*metadata/<k>.npy; expected text files"):
        make_task("pathfinder", data_dir=tmp_path, cache=False)


def test_pathfinder_accepts_binary_npy_metadata(tmp_path):
    """The original generator `np.save`s a string array of rows; it reads the same as the text form."""
    base, images, labels = write_pathfinder(tmp_path, empty_index=None, n=4)
    meta = base / "metadata" / "0.npy"
    rows = np.asarray([line.split() for line in meta.read_text().splitlines()])
    with open(meta, "wb") as f:
        np.save(f, rows)
    assert meta.read_bytes()[:6] == b"\x93NUMPY"
    task = make_task("pathfinder", data_dir=tmp_path, cache=False, seed=0)
    y = np.concatenate([task.train.y, task.validation.y, task.test.y])
    assert sorted(y.tolist()) == sorted(labels.tolist()) and len(y) == 4
