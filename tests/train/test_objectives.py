"""Objectives: losses and evaluation metrics against independent numpy computations (float64 and float32)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.data.dataset import ArrayDataset, Task
from ssmlab.train.objectives import (
    Classification,
    NextToken,
    PerStepRegression,
    TokenClassification,
    make_objective,
    objective_for,
    score,
)


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@pytest.fixture(scope="module")
def lm_batch():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 5, 4)) * 2
    y = rng.integers(0, 4, size=(3, 5))
    mask = np.ones((3, 5), bool)
    mask[1, 3:] = False
    mask[2, 1:] = False
    w = np.array([1.0, 1.0, 0.0])
    return z, y, mask, w


def _ce_numpy(z, y):
    return -np.take_along_axis(_log_softmax(z), y[..., None], axis=-1)[..., 0]


@pytest.mark.parametrize("dtype, tol", [(jnp.float64, 1e-12), (jnp.float32, 1e-5)])
def test_next_token_masked_cross_entropy_matches_numpy(lm_batch, dtype, tol):
    z, y, mask, w = lm_batch
    ce = _ce_numpy(z, y)
    with jax.enable_x64(True):
        loss, m = jax.jit(NextToken().loss)(jnp.asarray(z, dtype), jnp.asarray(y), jnp.asarray(mask))
        sums = np.asarray(jax.jit(NextToken().sums)(jnp.asarray(z, dtype), jnp.asarray(y), jnp.asarray(w, dtype),
                                                    jnp.asarray(mask)), np.float64)
    valid = mask.astype(float)
    expect = (ce * valid).sum() / valid.sum()
    np.testing.assert_allclose(float(loss), expect, rtol=tol)
    hits = (z.argmax(-1) == y) * valid
    np.testing.assert_allclose(float(m["accuracy"]), hits.sum() / valid.sum(), rtol=tol)
    # evaluation: example 2 has weight 0, so only examples 0 and 1 count
    ww = valid * w[:, None]
    metrics = NextToken().metrics(sums)
    expect_eval = (ce * ww).sum() / ww.sum()
    np.testing.assert_allclose(metrics["loss"], expect_eval, rtol=tol)
    np.testing.assert_allclose(metrics["accuracy"], (hits * w[:, None]).sum() / ww.sum(), rtol=tol)
    np.testing.assert_allclose(metrics["perplexity"], math.exp(expect_eval), rtol=10 * tol)
    np.testing.assert_allclose(metrics["bits_per_token"], expect_eval / math.log(2), rtol=tol)


def test_next_token_without_mask_is_the_plain_mean_and_refuses_pooled_outputs(lm_batch):
    z, y, _, _ = lm_batch
    with jax.enable_x64(True):
        loss, _ = jax.jit(NextToken().loss)(jnp.asarray(z), jnp.asarray(y))
    np.testing.assert_allclose(float(loss), _ce_numpy(z, y).mean(), rtol=1e-12)
    with pytest.raises(ValueError, match="pooling='none'"):
        NextToken().loss(jnp.zeros((3, 4)), jnp.zeros((3,), int))


@pytest.mark.parametrize("dtype, tol", [(jnp.float64, 1e-12), (jnp.float32, 1e-5)])
def test_per_step_regression_mse_and_nmse_match_numpy(lm_batch, dtype, tol):
    _, _, mask, w = lm_batch
    rng = np.random.default_rng(1)
    pred, y = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 5, 2)) + 0.5
    obj = PerStepRegression()
    with jax.enable_x64(True):
        loss, extra = jax.jit(obj.loss)(jnp.asarray(pred, dtype), jnp.asarray(y, dtype), jnp.asarray(mask))
        sums = np.asarray(jax.jit(obj.sums)(jnp.asarray(pred, dtype), jnp.asarray(y, dtype), jnp.asarray(w, dtype),
                                            jnp.asarray(mask)), np.float64)
    sel = mask[..., None].repeat(2, -1)
    np.testing.assert_allclose(float(loss), ((pred - y)[sel] ** 2).mean(), rtol=tol)
    assert extra == {}
    sel_eval = sel & (w[:, None, None] > 0)
    metrics = obj.metrics(sums)
    err, tgt = (pred - y)[sel_eval], y[sel_eval]
    np.testing.assert_allclose(metrics["mse"], (err**2).mean(), rtol=tol)
    assert metrics["loss"] == metrics["mse"]
    np.testing.assert_allclose(metrics["nmse"], (err**2).sum() / ((tgt - tgt.mean()) ** 2).sum(), rtol=10 * tol)


def test_per_step_regression_pooled_outputs_and_shape_errors():
    rng = np.random.default_rng(2)
    pred, y = rng.normal(size=(4, 1)), rng.normal(size=(4, 1))
    with jax.enable_x64(True):
        loss, _ = jax.jit(PerStepRegression().loss)(jnp.asarray(pred), jnp.asarray(y))
    np.testing.assert_allclose(float(loss), ((pred - y) ** 2).mean(), rtol=1e-12)
    with pytest.raises(ValueError, match="output_dim"):
        PerStepRegression().loss(jnp.zeros((4, 5, 3)), jnp.zeros((4, 5, 2)))
    assert PerStepRegression().metrics(np.array([1.0, 4.0, 8.0, 16.0]))["nmse"] == math.inf  # constant target


def test_classification_equals_the_historic_loss():
    rng = np.random.default_rng(3)
    z, y, w = rng.normal(size=(6, 3)), rng.integers(0, 3, 6), np.array([1, 1, 1, 1, 0, 0.0])
    with jax.enable_x64(True):
        loss, m = jax.jit(Classification().loss)(jnp.asarray(z), jnp.asarray(y))
        metrics = Classification().metrics(np.asarray(jax.jit(Classification().sums)(jnp.asarray(z), jnp.asarray(y),
                                                                                     jnp.asarray(w))))
    ce = _ce_numpy(z, y)
    np.testing.assert_allclose(float(loss), ce.mean(), rtol=1e-12)
    np.testing.assert_allclose(float(m["accuracy"]), (z.argmax(1) == y).mean(), rtol=1e-12)
    np.testing.assert_allclose(metrics["loss"], ce[:4].mean(), rtol=1e-12)
    np.testing.assert_allclose(metrics["accuracy"], (z.argmax(1) == y)[:4].mean(), rtol=1e-12)


def test_token_classification_is_the_answer_steps_cross_entropy(lm_batch):
    """Only the masked (answer) steps count: their mean CE and accuracy, checked against numpy; scored by accuracy."""
    z, y, _, w = lm_batch
    answers = np.zeros(y.shape, bool)
    answers[:, -2:] = True  # e.g. the marker steps of selective copying
    logp = _log_softmax(z)
    ce = -np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    with jax.enable_x64(True):
        obj = make_objective("token_classification")
        loss, m = jax.jit(obj.loss)(jnp.asarray(z), jnp.asarray(y), jnp.asarray(answers))
        metrics = obj.metrics(np.asarray(jax.jit(obj.sums)(jnp.asarray(z), jnp.asarray(y), jnp.asarray(w),
                                                           jnp.asarray(answers))))
    np.testing.assert_allclose(float(loss), ce[:, -2:].mean(), rtol=1e-12)
    np.testing.assert_allclose(float(m["accuracy"]), (z.argmax(-1) == y)[:, -2:].mean(), rtol=1e-12)
    np.testing.assert_allclose(metrics["loss"], ce[:2, -2:].mean(), rtol=1e-12)  # example 2 has weight 0
    assert set(metrics) == {"loss", "accuracy"} and isinstance(obj, TokenClassification)
    assert score(obj, {"accuracy": 0.7, "loss": 1.0}) == 0.7


def test_objective_choice_and_score():
    data = ArrayDataset(np.zeros((2, 3, 1), np.float32), np.zeros(2, np.int32))
    task = Task(name="t", train=data, test=data, input_kind="real", num_classes=2, seq_len=3)
    assert isinstance(objective_for(task), Classification)
    reg = Task(name="t", train=data, test=data, input_kind="real", num_classes=0, seq_len=3)
    assert isinstance(objective_for(reg), PerStepRegression)
    lm = Task(name="t", train=data, test=data, input_kind="real", num_classes=2, seq_len=3, objective="next_token")
    assert isinstance(objective_for(lm), NextToken)
    with pytest.raises(ValueError, match="unknown objective"):
        make_objective("ctc")
    assert score(Classification(), {"accuracy": 0.7, "loss": 1.0}) == 0.7
    assert score(NextToken(), {"accuracy": 0.7, "loss": 1.0}) == -1.0
