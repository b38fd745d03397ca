"""Sweeps (`ssmlab.train.sweep`): run r of a vmapped sweep = that run trained alone; parameter masks; errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

from ssmlab.data.lds import LDSStream, held_out_set, paper_lds, seed_streams
from ssmlab.layers.lru import LRU
from ssmlab.layers.stu import STU
from ssmlab.models.sequence_model import apply_batch, make_model
from ssmlab.train.loop import _make_steps
from ssmlab.train.objectives import PerStepRegression
from ssmlab.train.sweep import Sweep, cosine_to_zero, grid_sweep, train_sweep


def test_bare_layer_sweep_equals_independent_optax_adam():
    """Independent reference: a hand-written MSE and optax.adam(lr_r), one run at a time (float64)."""
    lds = paper_lds(seed=0)
    data = seed_streams(lds, seq_len=24, chunk=5, num_streams=2, dtype="float64")
    sweep = Sweep(np.array([1e-3, 3e-2]), np.array([0, 1]))
    models = [LRU(state_size=4, d_model=3, dtype=jnp.float64, key=jr.key(int(s))) for s in sweep.seed_index]
    res = train_sweep(models, sweep, data, steps=10, chunk=5)
    assert res.losses.shape == (10, 2) and res.evals == {} and res.eval_steps == []
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
        ref = []
        for c in range(2):
            batch = data(c)
            for t in range(5):
                model, state, loss = step(model, state, *(jnp.asarray(batch[k][t, r, 0]) for k in ("x", "y")))
                ref.append(float(loss))
        np.testing.assert_allclose(res.losses[:, r], ref, rtol=1e-9)
        np.testing.assert_allclose(res.model(r).nu_log, model.nu_log, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.model(r).c_re, model.c_re, rtol=1e-9, atol=1e-12)


def test_sequence_model_sweep_equals_the_shared_loop_step_with_a_step_mask():
    """Run r = the training loop's own jitted step (`loop._make_steps`) with optax.adam(lr_r) on its stream,
    for a `SequenceModel` through `apply_batch`, batches of 2 and an objective mask hiding the first steps.
    (The evaluation path is checked against a direct computation in the parameter-mask test.)"""
    L, steps, chunk = 8, 4, 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, 2, 2, L, 2))  # [step, stream, batch, L, d_in]
    y = np.cumsum(x, axis=3)
    mask = np.broadcast_to(np.arange(L) >= 3, x.shape[:4])

    def data(c):
        part = slice(c * chunk, (c + 1) * chunk)
        return {"x": x[part], "y": y[part], "mask": mask[part]}

    built = [make_model(layer="lru", d_model=4, depth=1, d_out=2, seq_len=L, input_kind="real", d_in=2,
                        pooling="none", layer_options={"state_size": 3}, key=jr.key(k)) for k in (0, 1)]
    sweep = Sweep(np.array([1e-2, 3e-3]), np.array([1, 0]))
    objective = PerStepRegression()
    res = train_sweep([m for m, _ in built], sweep, data, steps=steps, chunk=chunk, objective=objective,
                      apply=apply_batch, states=[s for _, s in built])
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=1.0)  # lr set per run: one compile
    train_step, _ = _make_steps(optimizer, objective)
    for r in range(2):
        model, state = built[r]
        opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
        opt_state.hyperparams["learning_rate"] = jnp.asarray(sweep.learning_rates[r], jnp.float32)
        ref = []
        for t in range(steps):
            s = sweep.seed_index[r]
            model, state, opt_state, loss, _ = train_step(model, state, opt_state, x[t, s], y[t, s], None, mask[t, s])
            ref.append(float(loss))
        np.testing.assert_allclose(res.losses[:, r], ref, rtol=2e-5)  # float32
        for a, b in zip(jax.tree.leaves(eqx.filter(res.model(r), eqx.is_inexact_array)),
                        jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def _zero_filters(model: STU, mask):
    """Parameter mask: spectral weights of filters with mask[k] = 0 are 0 (written here, not the experiment's)."""
    keep = mask.astype(model.m_phi_plus.dtype)[:, None, None]
    return eqx.tree_at(lambda s: (s.m_phi_plus, s.m_phi_minus), model,
                       (model.m_phi_plus * keep, model.m_phi_minus * keep))


def test_parameter_masks_hold_weights_at_zero_and_evaluations_match():
    lds = paper_lds(seed=1)
    data = seed_streams(lds, seq_len=32, chunk=5, num_streams=1, dtype="float64")
    masks = jnp.asarray(np.arange(6)[None, :] < np.array([[2], [6]]))
    sweep = Sweep(np.array([1e-2, 1e-2]), np.array([0, 0]), np.array([0, 1]))
    models = [STU(d_model=3, seq_len=32, num_filters=6, dtype=jnp.float64, key=jr.key(0)) for _ in range(2)]
    ev, norm = held_out_set(lds, seq_len=32, num_sequences=3, seed=9, dtype="float64")
    res = train_sweep(models, sweep, data, steps=10, chunk=5, masks=masks, mask_fn=_zero_filters, eval_data=ev,
                      schedule=cosine_to_zero(10), eval_every=2)
    assert res.evals["mse"].shape == (2, 2) and res.eval_steps == [0, 10] and res.losses.shape == (10, 2)
    np.testing.assert_array_equal(np.asarray(res.params.m_phi_plus[0, 2:]), 0.0)
    assert np.any(np.asarray(res.params.m_phi_plus[1, 2:]) != 0.0)
    # step 0: every weight is 0, the zero predictor: MSE = mean y² (the normaliser)
    np.testing.assert_allclose(res.evals["mse"][0], norm, rtol=1e-12)
    run1 = _zero_filters(res.model(1), masks[1])
    pred = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))(run1, jnp.asarray(ev["x"]))
    np.testing.assert_allclose(res.evals["mse"][-1, 1], np.mean((np.asarray(pred) - ev["y"]) ** 2), rtol=1e-10)
    assert np.all(np.isfinite(res.losses))


def test_data_helpers_and_errors():
    lds = paper_lds(seed=0)
    data = seed_streams(lds, seq_len=6, chunk=3, num_streams=2, seed=4)
    batch = data(1)
    assert batch["x"].shape == (3, 2, 1, 6, 3) and batch["y"].shape == (3, 2, 1, 6, 3)
    ref = LDSStream(lds, seq_len=6, batch_size=3, seed=4001).batch(1)  # stream s = 1000·seed + s
    np.testing.assert_array_equal(batch["x"][:, 1, 0], ref["x"])
    assert grid_sweep([1e-3, 1e-2], 3).seed_index.tolist() == [0, 1, 2, 0, 1, 2]
    lru = LRU(state_size=2, d_model=3, key=jr.key(0))
    with pytest.raises(ValueError, match="one structure"):
        train_sweep([lru, LRU(state_size=2, d_model=3, gamma_norm=False, key=jr.key(0))], grid_sweep([1e-3], 2),
                    data, steps=3, chunk=3)
    with pytest.raises(ValueError, match="multiple of chunk"):
        train_sweep([lru], grid_sweep([1e-3], 1), data, steps=4, chunk=3)
    with pytest.raises(ValueError, match="eval_every"):
        train_sweep([lru], grid_sweep([1e-3], 1), data, steps=6, chunk=3, eval_every=4)
    with pytest.raises(ValueError, match="mask_fn"):
        train_sweep([lru], grid_sweep([1e-3], 1), data, steps=3, chunk=3, masks=jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="> 0"):
        Sweep(np.array([0.0]), np.array([0]))
