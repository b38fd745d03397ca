"""Selective copying and induction heads: layout, order, noise and targets checked row by row."""

import numpy as np
import pytest

from ssmlab.data.synthetic_tasks import FIRST_CONTENT, MARKER, NOISE, induction_heads, selective_copying, token_count


@pytest.mark.parametrize(("seq_len", "k"), [(1, 1), (10, 10), (64, 4), (300, 16)])
def test_selective_copying_layout(seq_len, k):
    x, y = selective_copying(np.random.default_rng(seq_len), batch=50, seq_len=seq_len, num_tokens=k, vocab_size=5)
    assert x.shape == (50, seq_len + k) and y.shape == (50, k) and x.dtype == y.dtype == np.int32
    for row, target in zip(x, y, strict=True):
        region = row[:seq_len]
        content = region[region != NOISE]
        np.testing.assert_array_equal(content, target)  # the tokens, in order of appearance
        assert np.all(row[seq_len:] == MARKER) and not np.any(region == MARKER)
        assert np.all((target >= FIRST_CONTENT) & (target < token_count(5)))
    assert len(np.unique(y)) == 5  # every content token is drawn


def test_selective_copying_positions_are_spread():
    x, _ = selective_copying(np.random.default_rng(0), batch=2000, seq_len=40, num_tokens=3)
    freq = np.mean(x[:, :40] != NOISE, axis=0)  # each position holds a token with probability 3/40
    np.testing.assert_allclose(freq, 3 / 40, atol=0.03)
    a, _ = selective_copying(np.random.default_rng(1), batch=4, seq_len=40, num_tokens=3)
    b, _ = selective_copying(np.random.default_rng(1), batch=4, seq_len=40, num_tokens=3)
    np.testing.assert_array_equal(a, b)


def test_induction_heads():
    x, y = induction_heads(np.random.default_rng(0), batch=300, seq_len=12, vocab_size=4)
    assert x.shape == (300, 13) and y.shape == (300,)
    for row, target in zip(x, y, strict=True):
        (markers,) = np.nonzero(row == MARKER)
        assert len(markers) == 2 and markers[1] == 12 and markers[0] <= 10
        assert row[markers[0] + 1] == target and target >= FIRST_CONTENT
    assert np.isin(np.unique(y), np.arange(FIRST_CONTENT, FIRST_CONTENT + 4)).all()


@pytest.mark.parametrize(("kw", "match"), [({"num_tokens": 0}, "num_tokens"), ({"num_tokens": 9}, "num_tokens"),
                                           ({"seq_len": 0}, "seq_len"), ({"vocab_size": 0}, "vocab_size"),
                                           ({"batch": 0}, "batch")])
def test_bad_arguments(kw, match):
    args = {"batch": 2, "seq_len": 8, "num_tokens": 2, "vocab_size": 4} | kw
    with pytest.raises(ValueError, match=match):
        selective_copying(np.random.default_rng(0), **args)
    with pytest.raises(ValueError, match="seq_len >= 2"):
        induction_heads(np.random.default_rng(0), batch=2, seq_len=1)
