"""The LDS studies: K-masks = smaller STUs, curve helpers, verdicts, plots from metrics, smoke runs.

The sweep machinery itself is tested in tests/train/test_sweep.py, the LRU ablation options in
tests/layers/test_lru.py."""

import dataclasses
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from ssmlab.experiments import lds_filters as F
from ssmlab.experiments import lds_study as S
from ssmlab.layers.stu import STU


def test_filter_mask_equals_stu_with_fewer_filters():
    big = STU(d_model=2, seq_len=40, num_filters=10, init="normal", dtype=jnp.float64, key=jr.key(1))
    small = STU(d_model=2, seq_len=40, num_filters=4, init="normal", dtype=jnp.float64, key=jr.key(2))
    small = eqx.tree_at(lambda m: (m.m_phi_plus, m.m_phi_minus, m.m_u), small,
                        (big.m_phi_plus[:4], big.m_phi_minus[:4], big.m_u))
    masked = F.mask_filters(big, jnp.asarray(np.arange(10) < 4))
    u = jnp.asarray(np.random.default_rng(1).standard_normal((40, 2)))
    apply = eqx.filter_jit(lambda m, u: m(u))
    np.testing.assert_allclose(apply(masked, u), apply(small, u), rtol=1e-10, atol=1e-12)


def test_curve_helpers():
    losses = np.array([[4.0], [2.0], [1.0], [1.0], [0.5], [0.1]])
    np.testing.assert_allclose(S.moving_average(losses, 2)[:, 0], [3.0, 1.0, 0.3])
    assert S.first_crossing(np.array([3.0, 1.0, 0.3]), 1.0, 2) == 4.0
    assert S.first_crossing(np.array([3.0, np.nan, 2.0]), 1.0, 2) == float("inf")


def test_claim_verdicts_follow_the_numbers():
    assert S._ratio_claim(100.0, 800.0, 1000).verdict == "pass"
    assert S._ratio_claim(100.0, 300.0, 1000).verdict == "partial"
    assert S._ratio_claim(100.0, 100.0, 1000).verdict == "fail"
    assert S._ratio_claim(100.0, float("inf"), 1000).verdict == "pass"  # > 10x lower bound
    assert S._ratio_claim(200.0, float("inf"), 1000).verdict == "partial"  # > 5x only
    assert S._ratio_claim(float("inf"), float("inf"), 1000).verdict == "fail"
    assert S._plateau_claim(0.05, 0.5).verdict == "pass"
    assert S._plateau_claim(0.05, 0.2).verdict == "partial"
    assert S._plateau_claim(0.2, 0.3).verdict == "fail"
    abl = {"a": {"best_eval_nmse": float("inf")}, "b": {"best_eval_nmse": 0.6}, "c": {"best_eval_nmse": 0.01}}
    assert [c.verdict for c in S._ablation_claims(abl, 0.05)] == ["pass", "pass", "fail"]


def test_bad_config_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="multiple of chunk"):
        S.run(dataclasses.replace(S.LDSStudyConfig(), steps=120, chunk=50), tmp_path)


@pytest.mark.slow
def test_lds_study_smoke(tmp_path):
    cfg = S.LDSStudyConfig(seq_len=32, steps=100, chunk=50, learning_rates=(1e-3, 1e-2), seeds=1, num_filters=6,
                           lru_state_size=4, ablation_learning_rates=(1e-2,), ablation_seeds=1, eval_sequences=4,
                           mamba_learning_rates=(1e-2,), mamba_state_size=4)
    res = S.run(cfg, tmp_path)
    figures = S.plot(json.loads(json.dumps(res.metrics)), tmp_path)  # from the metrics as metrics.json holds them
    assert [f.name for f in figures] == ["fig3_stu_vs_lru.png", "lru_ablation.png"]
    for name in ("fig3_stu_vs_lru.png", "lru_ablation.png", "lds_study_losses.npz", "lds_system.npz"):
        assert (tmp_path / name).is_file()
    m = res.metrics
    assert set(m["mamba"]["lr"]) == {f"{lr:g}" for lr in cfg.mamba_learning_rates}
    assert res.claims[4].verdict == "info" and "Mamba" in res.claims[4].claim
    assert len(res.claims) == 8 and {c.verdict for c in res.claims} <= {"pass", "fail", "partial", "info"}
    expected = S._ratio_claim(m["samples_to_threshold"]["median_stu"], m["samples_to_threshold"]["median_lru"],
                              cfg.steps)
    assert res.claims[1] == expected


# ---------------------------------------------------------------- lds-filters (Figure 4)
def test_stu_jacobian_reproduces_the_layer_and_labels_filters():
    model = STU(d_model=2, d_out=3, seq_len=16, num_filters=5, init="normal", dtype=jnp.float64, key=jr.key(3))
    xs = jnp.asarray(np.random.default_rng(2).standard_normal((2, 16, 2)))
    zero = jax.tree.map(lambda a: jnp.zeros_like(a) if eqx.is_inexact_array(a) else a, model)  # filters are static
    jac, col_k = F.stu_jacobian(zero, xs)
    assert jac.shape == (2 * 16 * 3, 2 * 5 * 2 * 3 + 3 * 2 * 3)
    assert np.sum(col_k == -1) == 3 * 2 * 3 and all(np.sum(col_k == k) == 12 for k in range(5))
    theta = np.concatenate([np.asarray(model.m_phi_plus).ravel(), np.asarray(model.m_phi_minus).ravel(),
                            np.asarray(model.m_u).ravel()])
    # ravel_pytree orders leaves by field: m_phi_plus, m_phi_minus, m_u (m_y is None for paper_eq4).
    direct = np.asarray(eqx.filter_jit(lambda m, x: jax.vmap(m)(x))(model, xs)).reshape(-1)
    np.testing.assert_allclose(jac @ theta, direct, rtol=1e-10, atol=1e-10 * np.max(np.abs(direct)))


def test_filter_claims_follow_the_numbers():
    ks = [1, 4, 8, 15, 25]
    assert F._decay_claim(ks, np.array([1.0, 0.1, 0.01, 0.01, 0.01]), "x")[0].verdict == "pass"
    assert F._decay_claim(ks, np.array([1.0, 0.9, 0.8, 0.8, 0.8]), "x")[0].verdict == "fail"
    assert F._plateau_claim(ks, np.array([1.0, 0.1, 0.01, 0.01, 0.008]), None, "pass")[0].verdict == "pass"
    assert F._plateau_claim(ks, np.array([1.0, 0.1, 0.01, 0.01, 0.0001]), None, "pass")[0].verdict == "fail"


@pytest.mark.slow
def test_lds_filters_smoke(tmp_path):
    cfg = F.LDSFiltersConfig(seq_len=32, num_filters=(1, 2, 4, 8, 15, 16), steps=40, chunk=20, seeds=1,
                             eval_sequences=4, ls_train_sequences=4, systems=("uniform",))
    res = F.run(cfg, tmp_path)
    assert F.plot(json.loads(json.dumps(res.metrics)), tmp_path) == [tmp_path / "fig4_error_vs_filters.png"]
    assert (tmp_path / "fig4_error_vs_filters.png").is_file() and (tmp_path / "lds_filters_uniform.npz").is_file()
    ls = np.asarray(res.metrics["uniform"]["least_squares_nmse"])
    assert ls.shape == (6,) and np.all(np.isfinite(ls))
    assert res.claims[1] == F._decay_claim(list(cfg.num_filters), ls, "[uniform] least-squares STU")[0]
    assert len(res.claims) == 3 and {c.verdict for c in res.claims} <= {"pass", "fail", "partial", "info"}
    with pytest.raises(ValueError, match="systems"):
        F.run(dataclasses.replace(cfg, systems=("nope",)), tmp_path)


def test_lds_study_plots_from_metrics_alone(tmp_path):
    """`plot` draws Figure 3 (with a Mamba line) and the ablation from a JSON round trip of the metrics."""
    rng = np.random.default_rng(0)
    sweep = S.grid_sweep((1e-3, 1e-2), 2)
    grid = {n: S.summarise_grid(rng.uniform(0.1, 2.0, (100, 4)), rng.uniform(0.1, 2.0, (3, 4)), sweep, 1.0, 10)
            for n in ("stu", "lru", "mamba", "abl")}
    metrics = {"stu": grid["stu"], "lru": grid["lru"], "mamba": grid["mamba"], "ablation": {"neither": grid["abl"]},
               "setup": {"steps": 100, "chunk": 50, "window": 10, "threshold": 0.1}}
    figures = S.plot(json.loads(json.dumps(metrics)), tmp_path)
    assert [f.name for f in figures] == ["fig3_stu_vs_lru.png", "lru_ablation.png"]
    assert all(f.stat().st_size > 0 for f in figures)
