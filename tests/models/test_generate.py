"""Generation through the step API equals sampling from the full model run on the growing prefix."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import ssmlab
from ssmlab.models.generate import generate, generate_stream, with_stu_route


class TinyRecurrentLM(eqx.Module):
    """h_t = a ⊙ h_{t-1} + E[x_t], logits_t = W tanh(h_t): full-sequence call and the step API."""

    emb: jax.Array
    a: jax.Array
    w: jax.Array

    def __init__(self, vocab=7, hidden=5, *, key):
        k1, k2, k3 = jr.split(key, 3)
        self.emb = jr.normal(k1, (vocab, hidden))
        self.a = jr.uniform(k2, (hidden,), minval=0.3, maxval=0.9)
        self.w = 2.0 * jr.normal(k3, (vocab, hidden))

    def full_logits_numpy(self, tokens):
        """Independent computation: a numpy loop over the whole prefix."""
        emb, a, w = (np.asarray(v, np.float64) for v in (self.emb, self.a, self.w))
        h = np.zeros(a.shape)
        out = []
        for t in tokens:
            h = a * h + emb[int(t)]
            out.append(w @ np.tanh(h))
        return np.array(out)

    def init_state(self):
        return jnp.zeros_like(self.a)

    def step(self, state, token):
        h = self.a * state + self.emb[token]
        return h, self.w @ jnp.tanh(h)


@pytest.fixture(scope="module")
def tiny():
    return TinyRecurrentLM(key=jr.key(0))


def test_greedy_generation_equals_argmax_of_the_full_model_on_the_growing_prefix(tiny):
    prompt = [1, 4, 2]
    with jax.enable_x64(True):
        model = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), tiny)
        tokens, _ = generate(model, None, jnp.asarray(prompt), 12, jr.key(1), temperature=0.0)
    seq = list(prompt)
    for _ in range(12):
        seq.append(int(np.argmax(model.full_logits_numpy(seq)[-1])))
    assert tokens.tolist() == seq[len(prompt):]


def test_sampling_uses_softmax_over_temperature_with_one_folded_key_per_draw(tiny):
    prompt, key, temp = jnp.asarray([3]), jr.key(7), 0.7
    tokens, state = generate(tiny, tiny.init_state(), prompt, 10, key, temperature=temp)
    seq = [3]
    for i in range(10):
        logits = jnp.asarray(tiny.full_logits_numpy(seq)[-1], tiny.w.dtype)
        seq.append(int(jr.categorical(jr.fold_in(key, i), logits / temp)))
    assert tokens.tolist() == seq[1:]
    # the returned state has consumed all but the last token: continuing from it = sampling further
    more, _ = generate(tiny, state, tokens[-1:], 4, key, temperature=0.0)
    for _ in range(4):
        seq.append(int(np.argmax(tiny.full_logits_numpy(seq)[-1])))
    assert more.tolist() == seq[-4:]
    assert generate(tiny, None, prompt, 0, key)[0].shape == (0,)
    assert list(generate_stream(tiny, None, prompt, 10, key, temperature=temp)) == tokens.tolist()
    assert ssmlab.generate is generate


def test_sampled_frequencies_follow_the_softmax(tiny):
    # one step from a fixed prompt, many keys: empirical frequencies vs softmax(z / T)
    z = tiny.full_logits_numpy([2])[-1] / 1.5
    p = np.exp(z - z.max())
    p /= p.sum()
    draws = jax.vmap(lambda k: generate(tiny, None, jnp.asarray([2]), 1, k, temperature=1.5)[0][0])(
        jr.split(jr.key(3), 4000))
    freq = np.bincount(np.asarray(draws), minlength=len(p)) / 4000
    assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / 4000) + 1e-3), (freq, p)  # 4 standard errors


def test_generate_refuses_bad_arguments(tiny):
    with pytest.raises(ValueError, match="non-empty"):
        generate(tiny, None, jnp.zeros((0,), jnp.int32), 3, jr.key(0))
    with pytest.raises(ValueError, match="integer token ids"):
        generate(tiny, None, jnp.zeros((2,)), 3, jr.key(0))
    with pytest.raises(ValueError, match="num_tokens"):
        generate(tiny, None, jnp.asarray([1]), -1, jr.key(0))
    with pytest.raises(ValueError, match="temperature"):
        generate(tiny, None, jnp.asarray([1]), 2, jr.key(0), temperature=-1.0)
    with pytest.raises(TypeError, match="init_state/step"):
        generate(eqx.nn.Linear(2, 2, key=jr.key(0)), None, jnp.asarray([1]), 2, jr.key(0))


@pytest.mark.slow  # one small model per layer (~10 s each on 2 shared cores); the fast check is TinyRecurrentLM
@pytest.mark.parametrize("layer, options", [("lru", {"state_size": 4}), ("s4d", {"state_size": 4}), ("stu", {})])
def test_greedy_generation_of_sequence_models_equals_the_full_model(layer, options):
    model, state = ssmlab.make_model(layer=layer, d_model=8, depth=2, d_out=11, seq_len=32, input_kind="tokens",
                                     vocab_size=11, pooling="none", layer_options=options, key=jr.key(2))
    prompt = [3, 1, 4, 1]
    tokens, _ = generate(model, None, jnp.asarray(prompt), 12, jr.key(0), temperature=0.0)
    # one full-sequence call (no step API) on prompt + tokens: a causal model's arg-max at step t >= P - 1
    # is what greedy decoding of the prefix up to t produced
    logits, _ = model(jnp.asarray(prompt + tokens.tolist()), state, inference=True)
    assert tokens.tolist() == jnp.argmax(logits[len(prompt) - 1: -1], axis=-1).tolist()


def _stu_lm(seq_len=16):
    return ssmlab.make_model(layer="stu", d_model=4, depth=2, d_out=5, seq_len=seq_len, input_kind="tokens",
                             vocab_size=5, pooling="none", layer_options={"num_filters": 3}, key=jr.key(4))


def test_with_stu_route_refuses_a_model_without_stu_layers(tiny):
    with pytest.raises(ValueError, match="no STU layer"):
        with_stu_route(tiny, "exact")


@pytest.mark.slow  # compiles one generation per route (~15 s on 2 shared cores)
def test_futurefill_routes_generate_the_exact_tokens_and_lds_runs():
    from ssmlab.layers.stu_generation import STUStepper

    model, _ = _stu_lm()
    routed = with_stu_route(model, "futurefill")
    assert all(isinstance(b.layer, STUStepper) and b.layer.route == "futurefill" for b in routed.blocks)
    assert routed.decoder.weight is model.decoder.weight and all(type(b.layer).__name__ == "STU" for b in model.blocks)
    with pytest.raises(ValueError, match="route must be one of"):
        with_stu_route(model, "nope")
    prompt = jnp.asarray([1, 3, 2])
    exact, _ = generate(model, None, prompt, 13, jr.key(0), temperature=0.0)  # 16 = seq_len steps in all
    for route in ("exact", "futurefill", "futurefill_epoched"):
        tokens, _ = generate(with_stu_route(model, route), None, prompt, 13, jr.key(0), temperature=0.0)
        assert tokens.tolist() == exact.tolist(), route
    tokens, _ = generate(with_stu_route(model, "lds", state_size=8), None, prompt, 13, jr.key(0), temperature=0.0)
    assert tokens.shape == (13,) and int(tokens.min()) >= 0 and int(tokens.max()) < 5
