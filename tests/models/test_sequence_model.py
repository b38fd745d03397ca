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
        SequenceModel(layer="lru", d_model=4, depth=1, d_out=2, seq_len=4, pooling="max", key=key)
    with pytest.raises(ValueError, match="mixing"):
        SequenceModel(layer="lru", d_model=4, depth=1, d_out=2, seq_len=4, mixing="swiglu", key=key)
    with pytest.raises(ValueError, match="unknown layer"):
        SequenceModel(layer="nope", d_model=4, depth=1, d_out=2, seq_len=4, key=key)
    with pytest.raises(ValueError, match=r"\[L\]"):
        model(jnp.ones((3, 10), jnp.int32), state)
