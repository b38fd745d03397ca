"""The LDS study: vmapped sweep = independent optax training, ablated LRU = LRU, K-masks = smaller STUs, smoke run."""

import dataclasses
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

from ssmlab.data.lds import LDSStream, paper_lds
from ssmlab.experiments import lds_study as S
from ssmlab.experiments import lds_training as T
from ssmlab.layers.lru import LRU
from ssmlab.layers.stu import STU


def _lru64(seed=0, h=3):
    return LRU(state_size=6, d_model=h, dtype=jnp.float64, key=jr.key(seed))


def test_ablated_lru_with_both_tricks_is_the_lru():
    lru = _lru64()
    u = jnp.asarray(np.random.default_rng(0).standard_normal((50, 3)))
    apply = eqx.filter_jit(lambda m, u: m(u))
    ref = apply(lru, u)
    for exp_param in (True, False):  # at initialisation the direct λ = p + iq is the same λ
        abl = T.AblatedLRU(lru, exp_param=exp_param, gamma_norm=True)
        np.testing.assert_allclose(apply(abl, u), ref, rtol=1e-12, atol=1e-12)
    no_gamma = T.AblatedLRU(lru, exp_param=True, gamma_norm=False)
    lru_gamma1 = eqx.tree_at(lambda m: m.gamma_log, lru, jnp.zeros_like(lru.gamma_log))
    np.testing.assert_allclose(apply(no_gamma, u), apply(lru_gamma1, u), rtol=1e-12, atol=1e-12)
    # Switching the flags through the sweep's mask_fn gives the same map as constructing the variant.
    switched = T.set_tricks(T.AblatedLRU(lru, exp_param=True, gamma_norm=True), jnp.asarray([1, 0], jnp.int32))
    np.testing.assert_allclose(apply(switched, u), apply(lru_gamma1, u), rtol=1e-12, atol=1e-12)


def test_filter_mask_equals_stu_with_fewer_filters():
    big = STU(d_model=2, seq_len=40, num_filters=10, init="normal", dtype=jnp.float64, key=jr.key(1))
    small = STU(d_model=2, seq_len=40, num_filters=4, init="normal", dtype=jnp.float64, key=jr.key(2))
    small = eqx.tree_at(lambda m: (m.m_phi_plus, m.m_phi_minus, m.m_u), small,
                        (big.m_phi_plus[:4], big.m_phi_minus[:4], big.m_u))
    masked = T.mask_filters(big, jnp.asarray(np.arange(10) < 4))
    u = jnp.asarray(np.random.default_rng(1).standard_normal((40, 2)))
    apply = eqx.filter_jit(lambda m, u: m(u))
    np.testing.assert_allclose(apply(masked, u), apply(small, u), rtol=1e-10, atol=1e-12)


def _toy_data(lds, seq_len, chunk, seeds):
    streams = [LDSStream(lds, seq_len=seq_len, batch_size=chunk, seed=s, dtype="float64") for s in range(seeds)]

    def data(c):
        parts = [st.batch(c) for st in streams]
        return np.stack([p["x"] for p in parts], 1), np.stack([p["y"] for p in parts], 1)

    return data


def test_vmapped_sweep_equals_independent_optax_adam():
    lds = paper_lds(seed=0)
    data = _toy_data(lds, 24, 5, 2)
    sweep = T.Sweep(np.array([1e-3, 3e-2]), np.array([0, 1]))
    models = [LRU(state_size=4, d_model=3, dtype=jnp.float64, key=jr.key(int(s))) for s in sweep.seed_index]
    params, static, losses, held = T.train_sweep(models, sweep, data, steps=10, chunk=5)
    assert losses.shape == (10, 2) and held.shape == (0, 2)
    chunks = [data(c) for c in range(2)]
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=1.0)  # lr set per run below; one compile

    @eqx.filter_jit
    def step(model, state, x, y):
        loss, g = eqx.filter_value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        upd, state = opt.update(g, state)
        return eqx.apply_updates(model, upd), state, loss

    for r in range(sweep.num_runs):
        model = models[r]
        state = opt.init(eqx.filter(model, eqx.is_inexact_array))
        state.hyperparams["learning_rate"] = jnp.asarray(sweep.learning_rates[r])
        ref_losses = []
        for xs, ys in chunks:
            for t in range(5):
                x, y = (jnp.asarray(a[t, sweep.seed_index[r]]) for a in (xs, ys))
                model, state, loss = step(model, state, x, y)
                ref_losses.append(float(loss))
        np.testing.assert_allclose(losses[:, r], ref_losses, rtol=1e-9)
        trained = T.unstack_run(params, static, r)
        np.testing.assert_allclose(trained.nu_log, model.nu_log, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(trained.c_re, model.c_re, rtol=1e-9, atol=1e-12)


def test_masked_stu_sweep_keeps_masked_weights_at_zero_and_tracks_held_out():
    lds = paper_lds(seed=1)
    data = _toy_data(lds, 32, 5, 1)
    masks = jnp.asarray(np.arange(6)[None, :] < np.array([[2], [6]]))
    sweep = T.Sweep(np.array([1e-2, 1e-2]), np.array([0, 0]), np.array([0, 1]))
    models = [STU(d_model=3, seq_len=32, num_filters=6, dtype=jnp.float64, key=jr.key(0)) for _ in range(2)]
    ev = LDSStream(lds, seq_len=32, batch_size=3, seed=9, dtype="float64").batch(0)
    x_ev, y_ev = jnp.asarray(ev["x"]), jnp.asarray(ev["y"])
    params, static, losses, held = T.train_sweep(models, sweep, data, steps=10, chunk=5, masks=masks,
                                                 mask_fn=T.mask_filters, eval_data=(x_ev, y_ev))
    assert held.shape == (3, 2)
    np.testing.assert_array_equal(np.asarray(params.m_phi_plus[0, 2:]), 0.0)
    assert np.any(np.asarray(params.m_phi_plus[1, 2:]) != 0.0)
    # Held-out MSE at step 0 is the zero predictor's (all weights 0): mean y².
    np.testing.assert_allclose(held[0], np.mean(ev["y"] ** 2), rtol=1e-12)
    # The last held-out value equals a direct evaluation of the trained run.
    run1 = T.mask_filters(T.unstack_run(params, static, 1), masks[1])
    pred = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))(run1, x_ev)
    direct = np.mean((np.asarray(pred) - ev["y"]) ** 2)
    np.testing.assert_allclose(held[-1, 1], direct, rtol=1e-10)
    assert np.all(np.isfinite(losses))


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
                           lru_state_size=4, ablation_learning_rates=(1e-2,), ablation_seeds=1, eval_sequences=4)
    res = S.run(cfg, tmp_path)
    for name in ("fig3_stu_vs_lru.png", "lru_ablation.png", "lds_study_losses.npz", "lds_system.npz"):
        assert (tmp_path / name).is_file()
    json.dumps(res.metrics)
    m = res.metrics
    assert len(res.claims) == 7 and {c.verdict for c in res.claims} <= {"pass", "fail", "partial", "info"}
    expected = S._ratio_claim(m["samples_to_threshold"]["median_stu"], m["samples_to_threshold"]["median_lru"],
                              cfg.steps)
    assert res.claims[1] == expected


# ---------------------------------------------------------------- lds-filters (Figure 4)
def test_stu_jacobian_reproduces_the_layer_and_labels_filters():
    from ssmlab.experiments import lds_filters as F

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
    from ssmlab.experiments import lds_filters as F

    ks = [1, 4, 8, 15, 25]
    assert F._decay_claim(ks, np.array([1.0, 0.1, 0.01, 0.01, 0.01]), "x")[0].verdict == "pass"
    assert F._decay_claim(ks, np.array([1.0, 0.9, 0.8, 0.8, 0.8]), "x")[0].verdict == "fail"
    assert F._plateau_claim(ks, np.array([1.0, 0.1, 0.01, 0.01, 0.008]), None, "pass")[0].verdict == "pass"
    assert F._plateau_claim(ks, np.array([1.0, 0.1, 0.01, 0.01, 0.0001]), None, "pass")[0].verdict == "fail"


@pytest.mark.slow
def test_lds_filters_smoke(tmp_path):
    from ssmlab.experiments import lds_filters as F

    cfg = F.LDSFiltersConfig(seq_len=32, num_filters=(1, 2, 4, 8, 15, 16), steps=40, chunk=20, seeds=1,
                             eval_sequences=4, ls_train_sequences=4, systems=("uniform",))
    res = F.run(cfg, tmp_path)
    assert (tmp_path / "fig4_error_vs_filters.png").is_file() and (tmp_path / "lds_filters_uniform.npz").is_file()
    ls = np.asarray(res.metrics["uniform"]["least_squares_nmse"])
    assert ls.shape == (6,) and np.all(np.isfinite(ls))
    assert res.claims[1] == F._decay_claim(list(cfg.num_filters), ls, "[uniform] least-squares STU")[0]
    assert len(res.claims) == 3 and {c.verdict for c in res.claims} <= {"pass", "fail", "partial", "info"}
    with pytest.raises(ValueError, match="systems"):
        F.run(dataclasses.replace(cfg, systems=("nope",)), tmp_path)
