"""Generated ListOps: lengths, depth, values (vs an independent evaluator), determinism, and the TSV round trip."""

from __future__ import annotations

import numpy as np
import pytest

from ssmlab.data import make_task
from ssmlab.data.listops_gen import _Stream, generate_listops, operator_value, random_tree, write_listops
from ssmlab.data.lra.tokenizers import listops_symbols


def evaluate(source: str) -> tuple[int, int]:
    """Value and operator depth of a binarised expression, by a stack over the raw text (independent route)."""
    ops = {"[MIN": np.min, "[MAX": np.max, "[MED": lambda a: int(np.median(a)), "[SM": lambda a: np.sum(a) % 10}
    stack: list = []
    depth = deepest = 0
    for tok in source.split():
        if tok in ops:
            stack.append((tok, []))
            depth += 1
            deepest = max(deepest, depth)
        elif tok == "]":
            op, args = stack.pop()
            depth -= 1
            val = int(ops[op](np.asarray(args)))
            (stack[-1][1].append(val) if stack else stack.append(val))
        elif tok.isdigit():
            (stack[-1][1].append(int(tok)) if stack else stack.append(int(tok)))
    assert len(stack) == 1
    return stack[0], deepest


def test_generated_values_lengths_depth_and_uniqueness():
    sources, values = generate_listops(300, seed=3, min_length=5, max_length=50, max_depth=4, max_args=5)
    assert len(set(sources)) == 300 and values.dtype == np.int32
    for s, v in zip(sources, values, strict=True):
        val, depth = evaluate(s)
        assert val == v
        assert depth <= 3  # operators only above max_depth, so at most max_depth - 1 levels of them
        assert 5 < len(listops_symbols(s)) < 50  # value 1, operator 2 (op + closing ]) per the definition
        assert s.count("(") == s.count(")")


def test_text_format_matches_the_released_example():
    assert operator_value("[MAX", [2, 9]) == 9
    assert operator_value("[MED", [1, 2, 8, 9]) == 5 and operator_value("[MED", [1, 2]) == 1
    assert operator_value("[SM", [9, 9, 3]) == 1 and operator_value("[MIN", [4, 2, 7]) == 2
    # With max_depth 2 the root is either a value or an operator over values; a 2-argument tree prints as
    # the released example's shape '( ( ( [MAX 2 ) 9 ) ] )'.
    sources, _ = generate_listops(40, seed=0, max_depth=2, max_args=2, min_length=2, max_length=5)
    assert all(len(s.split()) == 10 and s.startswith("( ( ( [") and s.endswith(" ) ] )") for s in sources)


def test_operator_probability_and_argument_counts():
    """Root statistics over 20,000 draws match P(operator) = 0.25 and randint(2, max_args) inclusive."""
    stream = _Stream(np.random.default_rng(0))
    trees = [random_tree(stream, max_depth=2, max_args=4, max_length=100) for _ in range(20_000)]
    n_args = np.asarray([len(t[0].split()) for t in trees])
    is_op = n_args > 1
    p = is_op.mean()
    assert abs(p - 0.25) < 5 * np.sqrt(0.25 * 0.75 / 20_000)
    k = (n_args[is_op] - 4) // 3  # k arguments print as 3 k + 4 whitespace tokens
    assert set(k.tolist()) == {2, 3, 4}
    counts = np.bincount(k - 2, minlength=3)
    expected = is_op.sum() / 3
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


def test_deterministic_by_seed_and_round_trip_through_loader(tmp_path):
    a = generate_listops(20, seed=7, min_length=5, max_length=40)
    b = generate_listops(20, seed=7, min_length=5, max_length=40)
    c = generate_listops(20, seed=8, min_length=5, max_length=40)
    assert a[0] == b[0] and a[0] != c[0]
    write_listops(tmp_path, num_train=12, num_val=4, num_test=4, seed=7, min_length=5, max_length=40)
    task = make_task("listops", data_dir=tmp_path, seq_len=64)
    np.testing.assert_array_equal(np.concatenate([task.train.y, task.validation.y, task.test.y]), a[1])
    gen = make_task("listops-gen", num_train=12, num_val=4, num_test=4, seed=7, min_length=5, max_length=40,
                    seq_len=64)
    np.testing.assert_array_equal(gen.train.x, task.train.x)
    np.testing.assert_array_equal(gen.test.y, task.test.y)


def test_bad_arguments():
    with pytest.raises(ValueError, match="min_length < max_length - 1"):
        generate_listops(3, min_length=10, max_length=10)
    with pytest.raises(ValueError, match="widen"):
        generate_listops(401, max_depth=2, max_args=2, min_length=2, max_length=5, max_tries=20_000)


@pytest.mark.slow
def test_worker_processes_give_the_same_trees():
    one = generate_listops(300, seed=2, min_length=5, max_length=40)
    two = generate_listops(300, seed=2, min_length=5, max_length=40, workers=2)
    assert one[0] == two[0] and np.array_equal(one[1], two[1])
