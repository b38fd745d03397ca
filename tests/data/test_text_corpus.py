"""lm-chars: corpus selection, split by file (deterministic, disjoint), windows, unigram entropy."""

import hashlib
import math

import numpy as np
import pytest

from ssmlab.data import make_task
from ssmlab.data.text_corpus import (
    VOCAB_SIZE,
    corpus_files,
    file_split,
    split_files,
    stdlib_root,
    unigram_entropy_bits,
    windows,
)


def _write_corpus(root, num=30):
    rng = np.random.default_rng(0)
    for i in range(num):
        words = rng.choice(["def", "return", "x", "=", "(", ")", ":", "\n", "    ", "import", "os"], size=40 + i)
        (root / f"mod_{i:02d}.py").write_text(" ".join(words) + "\n")
    (root / "notes.txt").write_text("not python")
    (root / "big.py").write_text("x" * 5000)
    (root / "pkg").mkdir()
    (root / "pkg" / "inner.py").write_text("ignored = True\n")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _write_corpus(tmp_path_factory.mktemp("corpus"))


def test_corpus_files_are_the_sorted_small_top_level_py_files(corpus):
    files = corpus_files(corpus, max_files=100, max_file_bytes=4000)
    assert [p.name for p in files] == [f"mod_{i:02d}.py" for i in range(30)]
    assert [p.name for p in corpus_files(corpus, max_files=3, max_file_bytes=10_000)] == ["big.py", "mod_00.py",
                                                                                          "mod_01.py"]
    with pytest.raises(ValueError, match="not a directory"):
        corpus_files(corpus / "nope")
    with pytest.raises(ValueError, match="max_file_bytes"):
        corpus_files(corpus, max_file_bytes=1)


def test_split_by_file_is_deterministic_disjoint_and_follows_the_path_hash(corpus):
    files = corpus_files(corpus, max_files=100, max_file_bytes=4000)
    a = split_files(files, corpus, val_fraction=0.2, test_fraction=0.2)
    b = split_files(list(reversed(files)), corpus, val_fraction=0.2, test_fraction=0.2)
    assert {k: sorted(v) for k, v in a.items()} == {k: sorted(v) for k, v in b.items()}
    names = [set(p.name for p in a[s]) for s in ("train", "validation", "test")]
    assert all(names) and not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert set().union(*names) == {p.name for p in files}
    for p in files:  # independent recomputation of the rule
        h = int(hashlib.sha256(p.name.encode()).hexdigest()[:16], 16) / 2**64
        expect = "validation" if h < 0.2 else "test" if h < 0.4 else "train"
        assert file_split(p.name, val_fraction=0.2, test_fraction=0.2) == expect
    # a file's split does not depend on which other files are present
    few = split_files(files[:7], corpus, val_fraction=0.2, test_fraction=0.2)
    for split, paths in few.items():
        assert set(paths) <= set(a[split])


def test_windows_against_a_loop_and_the_task(corpus):
    data = bytes(range(50)) + b"abc"
    x, y = windows(data, 8)
    assert x.shape == (6, 8) == y.shape and x.dtype == np.int32
    for k in range(6):
        assert x[k].tolist() == list(data[8 * k: 8 * k + 8]) and y[k].tolist() == list(data[8 * k + 1: 8 * k + 9])
    assert windows(data, 8, max_windows=2)[0].shape == (2, 8)
    task = make_task("lm-chars", root=str(corpus), seq_len=16, max_files=100, max_file_bytes=4000,
                     val_fraction=0.2, test_fraction=0.2)
    assert task.objective == "next_token" and task.pooling == "none" and task.vocab_size == VOCAB_SIZE
    assert task.validation is not None and len(task.train) > len(task.validation) > 0 and len(task.test) > 0
    np.testing.assert_array_equal(task.train.x[:, 1:], task.train.y[:, :-1])
    with pytest.raises(ValueError, match="less than one window"):
        make_task("lm-chars", root=str(corpus), seq_len=100_000, max_file_bytes=4000)
    with pytest.raises(ValueError, match="val_fraction"):
        make_task("lm-chars", root=str(corpus), val_fraction=0.6, test_fraction=0.6)


def test_unigram_entropy_against_counting():
    text = b"aab" * 10 + b"c"
    counts = {c: text.count(c) for c in set(text)}
    expect = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    assert unigram_entropy_bits(text) == pytest.approx(expect, rel=1e-12)
    assert unigram_entropy_bits(b"zzzz") == 0.0


def test_the_default_corpus_is_the_stdlib():
    files = corpus_files(max_files=5)
    assert len(files) == 5 and all(p.parent == stdlib_root() and p.suffix == ".py" for p in files)
