"""SequenceModel: causality of full stacks, pooling = pooled per-step outputs, batch norm statistics, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from ssmlab.layers import layer_names
from ssmlab.layers.lru import replace_static
from ssmlab.models import SequenceModel, apply_batch, make_model

LAYERS = [n if n in ("lru", "stu") else pytest.param(n, marks=pytest.mark.slow)
          for n in ("lru", "s4d", "linear_ssm", "stu") if n in layer_names()]


def _opts(layer):
    return {"state_size": 4} if layer in ("lru", "s4d", "linear_ssm") else {}


@pytest.mark.parametrize("layer", LAYERS)
def test_full_stack_is_causal(key, layer):
    model, state = make_model(layer=layer, d_model=6, depth=2, d_out=3, seq_len=24, key=key, pooling="none",
                              mixing="mlp", layer_options=_opts(layer))
    model = jax.tree_util.tree_map(lambda x: x.astype(jnp.float64) if eqx.is_inexact_array(x) else x, model)
    f = eqx.filter_jit(lambda m, v: m(v, state, inference=True)[0])
    v = jr.normal(jr.key(1), (24, 1), jnp.float64)
    y, y2 = f(model, v), f(model, v.at[10].add(1.0))
    scale = float(jnp.max(jnp.abs(y)))
    assert float(jnp.max(jnp.abs(y2[:10] - y[:10]))) <= 1e-12 * scale  # FFT round-off only
    assert float(jnp.max(jnp.abs(y2[10:] - y[10:]))) > 1e-6 * scale


def test_mean_and_last_pooling_match_per_step_outputs(key):
    model, state = make_model(layer="lru", d_model=5, depth=2, d_out=4, seq_len=16, key=key, pooling="none",
                              layer_options={"state_size": 4})
    x = jr.normal(jr.key(2), (16, 1))
    f = eqx.filter_jit(lambda m: m(x, state)[0])
    per_step = f(model)
    # the decoder is affine, so decoder(mean_t h_t) = mean_t decoder(h_t)
    np.testing.assert_allclose(np.asarray(f(replace_static(model, pooling="mean"))),
                               np.asarray(per_step.mean(axis=0)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(f(replace_static(model, pooling="last"))), np.asarray(per_step[-1]),
                               rtol=1e-6)


def test_max_pooling_is_the_channelwise_max_of_the_features(key):
    """Identity decoder: pooling "max" (plain and masked) = max over the valid steps of the per-step features."""
    model, state = make_model(layer="stu", d_model=4, depth=2, d_out=4, seq_len=12, key=key, pooling="none",
                              layer_options={"num_filters": 3})
    model = _f64(eqx.tree_at(lambda m: (m.decoder.weight, m.decoder.bias), model,
                             (jnp.eye(4), jnp.zeros(4))))
    x = jr.normal(jr.key(3), (2, 12, 1), jnp.float64)
    lengths = (12, 5)
    mask = jnp.arange(12)[None, :] < jnp.asarray(lengths)[:, None]
    steps = apply_batch(model, state, x)[0]  # [B, L, H] features h_t (identity decoder)
    pooled = apply_batch(replace_static(model, pooling="max"), state, x)[0]
    masked = apply_batch(replace_static(model, pooling="max"), state, x, mask=mask)[0]
    np.testing.assert_allclose(np.asarray(pooled), np.asarray(steps.max(axis=1)), rtol=1e-12)
    for i, n in enumerate(lengths):  # causal stack: the first n steps do not see the padding
        np.testing.assert_allclose(np.asarray(masked[i]), np.asarray(steps[i, :n].max(axis=0)), rtol=1e-12)
    none = apply_batch(replace_static(model, pooling="max"), state, x, mask=jnp.zeros((2, 12), bool))[0]
    np.testing.assert_array_equal(np.asarray(none), 0.0)  # all-False mask: zeros (identity decoder), not -inf


def test_batch_norm_uses_batch_and_time_statistics(key):
    model, state = make_model(layer="s4d", d_model=4, depth=1, d_out=2, seq_len=8, key=key, norm="batch",
                              pooling="none", layer_options={"state_size": 4})
    x = jr.normal(jr.key(3), (5, 8, 1), jnp.float32)
    block = model.blocks[0]
    h = jax.vmap(jax.vmap(model.encoder))(x)
    normed, _ = jax.vmap(lambda hi, st: block._norm(hi, st, False), in_axes=(0, None), out_axes=(0, None),
                         axis_name="batch")(h, state)
    # independent computation: standardise each channel over (batch, time)
    mu = h.mean(axis=(0, 1), keepdims=True)
    sd = jnp.sqrt(h.var(axis=(0, 1), keepdims=True) + 1e-5)
    np.testing.assert_allclose(np.asarray(normed), np.asarray((h - mu) / sd), rtol=1e-4, atol=1e-5)
    y, new_state = apply_batch(model, state, x, key=jr.key(4))
    y_inf, _ = apply_batch(model, new_state, x, inference=True)
    assert y.shape == y_inf.shape == (5, 8, 2)


def test_tokens_dropout_and_errors(key):
    model, state = make_model(layer="lru", d_model=4, depth=1, d_out=3, seq_len=10, key=key, input_kind="tokens",
                              vocab_size=7, dropout=0.5, layer_options={"state_size": 2})
    tokens = jnp.arange(10) % 7
    f = eqx.filter_jit(lambda k, inference: model(tokens, state, key=k, inference=inference)[0])
    a, b, c = f(jr.key(0), False), f(jr.key(1), False), f(jr.key(1), True)
    d, _ = model(tokens, state)
    assert not np.allclose(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(np.asarray(c), np.asarray(d), rtol=1e-5, atol=1e-7)  # jit vs eager, float32
    with pytest.raises(ValueError, match="vocab_size"):
        SequenceModel(layer="lru", d_model=4, depth=1, d_out=2, seq_len=4, input_kind="tokens", key=key)
    with pytest.raises(ValueError, match="pooling"):
        SequenceModel(layer="lru", d_model=4, depth=1, d_out=2, seq_len=4, pooling="median", key=key)
    with pytest.raises(ValueError, match="mixing"):
        SequenceModel(layer="lru", d_model=4, depth=1, d_out=2, seq_len=4, mixing="swiglu", key=key)
    with pytest.raises(ValueError, match="unknown layer"):
        SequenceModel(layer="nope", d_model=4, depth=1, d_out=2, seq_len=4, key=key)
    with pytest.raises(ValueError, match=r"\[L\]"):
        model(jnp.ones((3, 10), jnp.int32), state)


# ---------------------------------------------------------------- padding masks


def _f64(model):
    return jax.tree_util.tree_map(lambda x: x.astype(jnp.float64) if eqx.is_inexact_array(x) else x, model)


@pytest.mark.parametrize("layer", ["lru", "stu"])
def test_masked_pooling_equals_the_unpadded_sequence(layer):
    """Causal stack: pooling a padded batch under its mask = running the model on each valid prefix alone."""
    L, lengths = 12, (12, 7, 1)
    opts = {"state_size": 4} if layer == "lru" else {"num_filters": 4}
    model, state = make_model(layer=layer, d_model=4, depth=1, d_out=3, seq_len=L, key=jr.key(7), d_in=2,
                              pooling="none", layer_options=opts)
    model = _f64(model)
    # padding is garbage, not zeros: only the mask may keep it out of the pooled features
    x = jr.normal(jr.key(8), (len(lengths), L, 2), jnp.float64)
    mask = jnp.arange(L)[None, :] < jnp.asarray(lengths)[:, None]

    @eqx.filter_jit
    def routes(m, x, mask):
        pooled = {p: apply_batch(replace_static(m, pooling=p), state, x, mask=mask)[0] for p in ("mean", "last")}
        # each example alone, only its n valid steps, per-step outputs (pooling "none", no mask)
        alone = [m(x[i, :n], state)[0] for i, n in enumerate(lengths)]
        return pooled, alone

    pooled, alone = routes(model, x, mask)
    for i, steps in enumerate(alone):
        tol = 1e-10 * float(jnp.max(jnp.abs(steps)))
        # the decoder is affine, so decoder(mean_t h_t) = mean_t decoder(h_t)
        np.testing.assert_allclose(np.asarray(pooled["mean"][i]), np.asarray(steps.mean(axis=0)), rtol=0, atol=tol)
        np.testing.assert_allclose(np.asarray(pooled["last"][i]), np.asarray(steps[-1]), rtol=0, atol=tol)


def test_mask_edge_cases_and_errors(key):
    model, state = make_model(layer="lru", d_model=4, depth=1, d_out=2, seq_len=6, key=key, input_kind="tokens",
                              vocab_size=5, layer_options={"state_size": 2})
    tokens = jnp.asarray([1, 2, 3, 4, 0, 0])
    seq_model = replace_static(model, pooling="none")

    @eqx.filter_jit
    def outputs(m, s):
        ones, zeros = jnp.ones(6, bool), jnp.zeros(6, bool)
        return (m(tokens, state)[0], m(tokens, state, mask=ones)[0], m(tokens, state, mask=zeros)[0],
                s(tokens, state)[0], s(tokens, state, mask=zeros)[0], m.decoder(jnp.zeros(4)))

    full, all_valid, none_valid, seq, seq_masked, bias = outputs(model, seq_model)
    np.testing.assert_allclose(np.asarray(all_valid), np.asarray(full), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(none_valid), np.asarray(bias))  # pooled features are 0, not NaN
    np.testing.assert_array_equal(np.asarray(seq_masked), np.asarray(seq))  # pooling "none" ignores the mask
    with pytest.raises(ValueError, match=r"mask must have shape \[L\]"):
        model(tokens, state, mask=jnp.ones(5, bool))
