"""Generated ListOps: the sampling law (node statistics, exact length law), values vs an independent evaluator,
text vs token-id routes, determinism, and the TSV round trip."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ssmlab.data import make_task
from ssmlab.data.listops_gen import (
    _chunk,
    generate_listops,
    generate_listops_ids,
    operator_value,
    operator_values,
    write_listops,
)
from ssmlab.data.lra.tokenizers import listops_ids, listops_symbols, pad_sequences

OPS = {"[MIN": np.min, "[MAX": np.max, "[MED": lambda a: int(np.median(a)), "[SM": lambda a: np.sum(a) % 10}


def parse(source: str) -> tuple[int, int, list[tuple]]:
    """Value, operator depth and nodes of a binarised expression, by a stack over the raw text (independent route).

    Nodes are ("op", depth, name, n_args) and ("value", depth, digit), depth 1 at the root.
    """
    stack: list = []
    nodes: list[tuple] = []
    depth = deepest = 0
    for tok in source.split():
        if tok in OPS:
            stack.append((tok, []))
            depth += 1
            deepest = max(deepest, depth)
        elif tok == "]":
            op, args = stack.pop()
            nodes.append(("op", depth, op, len(args)))
            depth -= 1
            val = int(OPS[op](np.asarray(args)))
            (stack[-1][1].append(val) if stack else stack.append(val))
        elif tok.isdigit():
            nodes.append(("value", depth + 1, int(tok)))
            (stack[-1][1].append(int(tok)) if stack else stack.append(int(tok)))
    assert len(stack) == 1
    return stack[0], deepest, nodes


def exact_length_law(*, max_depth: int, max_args: int, top: int) -> np.ndarray:
    """P(length = L), L < top, of one draw from the definition: a convolution recursion over depth."""
    p = np.zeros(top)
    p[1] = 1.0  # a node at max_depth is a value
    for _ in range(max_depth - 1):
        children, op = p.copy(), np.zeros(top)
        for _k in range(2, max_args + 1):
            children = np.convolve(children, p)[:top]  # length of k independent children
            op += children / (max_args - 1)
        p = np.zeros(top)
        p[1] = 0.75
        p[2:] += 0.25 * op[:-2]
    return p


def draws(n_chunks: int, *, seed: int, **params) -> tuple[list[str], np.ndarray]:
    """Every kept draw (duplicates included) of the first `n_chunks` chunks."""
    args = (params["max_depth"], params["max_args"], params["min_length"], params["max_length"])
    out = [_chunk((seed, k, True, *args)) for k in range(n_chunks)]
    return [t for texts, _ in out for t in texts], np.concatenate([v for _, v in out])


def test_generated_values_lengths_depth_and_uniqueness():
    sources, values = generate_listops(300, seed=3, min_length=5, max_length=50, max_depth=4, max_args=5)
    assert len(set(sources)) == 300 and values.dtype == np.int32
    for s, v in zip(sources, values, strict=True):
        val, depth, _ = parse(s)
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


def test_vectorised_operator_values_match_the_scalar_definition():
    rng = np.random.default_rng(0)
    n_args = rng.integers(2, 11, size=4000)
    ops = rng.integers(0, 4, size=4000)
    args = rng.integers(0, 10, size=int(n_args.sum()))
    got = operator_values(ops, args, n_args)
    names = ["[MIN", "[MAX", "[MED", "[SM"]
    runs = np.split(args, np.cumsum(n_args)[:-1])
    assert got.tolist() == [operator_value(names[o], a.tolist()) for o, a in zip(ops, runs, strict=True)]


def test_node_law_operator_kinds_argument_counts_and_values():
    """All 20,000 draws kept (max_length above any tree): per-node choices follow the definition."""
    texts, values = draws(10, seed=4, max_depth=3, max_args=4, min_length=0, max_length=100)
    assert len(texts) == 20_000
    nodes = []
    for t, v in zip(texts, values, strict=True):
        val, _, tree_nodes = parse(t)
        assert val == v
        nodes += tree_nodes
    for depth in (1, 2):  # P(operator) = 0.25 below max_depth, at the root and below it
        at = [n[0] == "op" for n in nodes if n[1] == depth]
        assert stats.binomtest(sum(at), len(at), 0.25).pvalue > 1e-4
    assert not any(n[0] == "op" for n in nodes if n[1] == 3)
    ops = [n for n in nodes if n[0] == "op"]
    kinds = np.unique([n[2] for n in ops], return_counts=True)
    assert kinds[0].tolist() == sorted(OPS) and stats.chisquare(kinds[1]).pvalue > 1e-4
    n_args = np.unique([n[3] for n in ops], return_counts=True)
    assert n_args[0].tolist() == [2, 3, 4] and stats.chisquare(n_args[1]).pvalue > 1e-4
    digits = np.bincount([n[2] for n in nodes if n[0] == "value"], minlength=10)
    assert len(digits) == 10 and stats.chisquare(digits).pvalue > 1e-4


def test_kept_lengths_and_acceptance_follow_the_exact_law():
    """Kept draws in a band with 9 % of draws too long: acceptance rate and length histogram vs the recursion."""
    max_depth, max_args, min_length, max_length = 7, 6, 8, 30
    n_chunks = 20
    texts, _ = draws(n_chunks, seed=5, max_depth=max_depth, max_args=max_args, min_length=min_length,
                     max_length=max_length)
    p = exact_length_law(max_depth=max_depth, max_args=max_args, top=max_length)[min_length + 1:]
    assert stats.binomtest(len(texts), 2000 * n_chunks, p.sum()).pvalue > 1e-4
    lengths = np.asarray([len(listops_symbols(t)) for t in texts])
    assert lengths.min() > min_length and lengths.max() < max_length
    observed = np.bincount(lengths - min_length - 1, minlength=len(p))
    assert stats.chisquare(observed, p / p.sum() * len(texts)).pvalue > 1e-4


def test_token_ids_match_the_tokenised_text():
    params = {"seed": 6, "min_length": 5, "max_length": 60, "max_depth": 5, "max_args": 4}
    sources, values = generate_listops(200, **params)
    ids, id_values, lengths = generate_listops_ids(200, **params)
    expected = [listops_ids(s) for s in sources]
    np.testing.assert_array_equal(ids, pad_sequences(expected, length=60, what="listops"))
    np.testing.assert_array_equal(id_values, values)
    np.testing.assert_array_equal(lengths, [len(e) for e in expected])
    with pytest.raises(ValueError, match="seq_len=20"):
        generate_listops_ids(200, seq_len=20, **params)


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
    np.testing.assert_array_equal(gen.train.lengths, task.train.lengths)
    np.testing.assert_array_equal(gen.test.lengths, (gen.test.x != 0).sum(axis=1))
    np.testing.assert_array_equal(gen.test.y, task.test.y)


def test_bad_arguments():
    with pytest.raises(ValueError, match="min_length < max_length - 1"):
        generate_listops(3, min_length=10, max_length=10)
    with pytest.raises(ValueError, match="widen"):
        generate_listops(401, max_depth=2, max_args=2, min_length=2, max_length=5, max_tries=20_000)
    for generate in (generate_listops, generate_listops_ids):  # length 5 cannot be drawn: every chunk is empty
        with pytest.raises(ValueError, match="widen"):
            generate(1, max_depth=2, max_args=2, min_length=4, max_length=6, max_tries=4000)
    texts, values = draws(1, seed=0, max_depth=2, max_args=2, min_length=0, max_length=2)  # single values
    assert len(texts) > 1000 and texts == [str(v) for v in values]


@pytest.mark.slow
def test_worker_processes_give_the_same_trees():
    one = generate_listops(300, seed=2, min_length=5, max_length=40)
    two = generate_listops(300, seed=2, min_length=5, max_length=40, workers=2)
    assert one[0] == two[0] and np.array_equal(one[1], two[1])
