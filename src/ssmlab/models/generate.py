r"""Autoregressive sampling from a causal token model through its step API.

A model that generates has `state = model.init_state()` and `state, logits = model.step(state, token)`
(one token id in, the next-token logits [V] out; pure and jit-able, the state a pytree), the same
convention as every layer. `generate` feeds the prompt p_0 .. p_{P-1} through `step`, then for
i = 0 .. N-1 draws

    x_i ~ softmax(z_i / T)   (T > 0),      x_i = argmax z_i   (T = 0, greedy),

where z_0 are the logits after p_{P-1} and z_{i+1} those after feeding x_i; draw i uses the key
`fold_in(key, i)`. Each draw costs one `step` (O(1) for recurrent layers) instead of a pass over the
whole prefix, and the result equals sampling from the full model run on the growing prefix (tested on
the real `SequenceModel` and on a reference recurrent model). The returned state has consumed all but
the last token, so a call with that token as the prompt continues the sequence exactly. `generate`
runs the whole loop in one compiled `lax.scan`; `generate_stream` yields the same tokens one at a time
(for a terminal) from the same compiled step. `with_stu_route(model, route)` swaps every STU layer of a
`SequenceModel` for its stepper by one generation route (exact cached convolution, FutureFill, distilled
LDS; `ssmlab.layers.stu_generation`), so the same `generate` samples by that route. `generate` and
`generate_stream` themselves prepare every STU layer for the exact route once, before the loop
(`STU.step` rebuilds its time-domain kernel from the filter spectrum at every call, which measured
2-8x slower in lm-small); the tokens are the same, since the exact stepper is what `STU.step` runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax
from jaxtyping import Array, Int, PRNGKeyArray


def _check(model, prompt, num_tokens: int, temperature: float) -> Array:
    if not (callable(getattr(model, "init_state", None)) and callable(getattr(model, "step", None))):
        raise TypeError(f"{type(model).__name__} has no init_state/step methods; generation needs a causal model "
                        "with the step API (state = model.init_state(); state, logits = model.step(state, token)).")
    prompt = jnp.asarray(prompt)
    if prompt.ndim != 1 or prompt.shape[0] < 1 or not jnp.issubdtype(prompt.dtype, jnp.integer):
        raise ValueError(f"prompt must be a non-empty 1-D array of integer token ids; got shape {tuple(prompt.shape)}"
                         f" dtype {prompt.dtype}. Give at least one token.")
    if isinstance(num_tokens, bool) or not isinstance(num_tokens, (int, np.integer)) or num_tokens < 0:
        raise ValueError(f"num_tokens must be an integer >= 0; got {num_tokens!r}.")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy); got {temperature!r}.")
    return prompt.astype(jnp.int32)  # the dtype of drawn tokens, so prompt and draws share one scan carry


def _draw(key: PRNGKeyArray, logits: Array, temperature: float) -> Array:
    if temperature == 0:
        return jnp.argmax(logits).astype(jnp.int32)
    return jr.categorical(key, logits / temperature).astype(jnp.int32)


@eqx.filter_jit
def _feed(model, state, tokens):
    """State after feeding `tokens` (possibly none) through `step`."""
    def body(s, token):
        s, _ = model.step(s, token)
        return s, None

    state, _ = lax.scan(body, state, tokens)
    return state


@eqx.filter_jit
def _next(model, state, last, key, i, temperature):
    """Feed `last`, draw token i from the logits: (state after `last`, token i)."""
    state, logits = model.step(state, last)
    return state, _draw(jr.fold_in(key, i), logits, temperature)


@eqx.filter_jit
def _sample_all(model, state, last, key, num_tokens, temperature):
    def body(carry, i):
        s, token = _next(model, *carry, key, i, temperature)
        return (s, token), token

    (state, _), tokens = lax.scan(body, (state, last), jnp.arange(num_tokens))
    return tokens, state


def _start(model, state, prompt, num_tokens: int, temperature: float):
    """(prepared model, state after all but the last prompt token, checked prompt): what both samplers begin with."""
    prompt = _check(model, prompt, num_tokens, temperature)
    model = _prepared(model)
    return model, _feed(model, model.init_state() if state is None else state, prompt[:-1]), prompt


def generate(model, state: Any, prompt: Array | np.ndarray | list[int], num_tokens: int, key: PRNGKeyArray,
             temperature: float = 1.0) -> tuple[Int[Array, " N"], Any]:
    """Sample `num_tokens` tokens after `prompt` (see the module docstring); returns (tokens [N] int32, state).

    `state` is the model's step state to start from (`None` = `model.init_state()`, a fresh sequence).
    The returned state has consumed everything but the last token of prompt + tokens, so
    `generate(model, state, tokens[-1:], ...)` continues the same sequence exactly (with no wasted final
    step). `temperature` 0 is greedy decoding.
    """
    model, state, prompt = _start(model, state, prompt, num_tokens, temperature)
    if num_tokens == 0:
        return jnp.zeros((0,), jnp.int32), state
    return _sample_all(model, state, prompt[-1], key, int(num_tokens), float(temperature))


def generate_stream(model, state: Any, prompt: Array | np.ndarray | list[int], num_tokens: int, key: PRNGKeyArray,
                    temperature: float = 1.0) -> Iterator[int]:
    """The tokens of `generate(...)`, yielded one by one as they are drawn (for streaming to a terminal).

    The arguments are checked and the prompt is fed when this is called, so errors come before any token."""
    model, state, prompt = _start(model, state, prompt, num_tokens, temperature)

    def tokens(state, last):
        for i in range(int(num_tokens)):
            state, last = _next(model, state, last, key, jnp.asarray(i), float(temperature))
            yield int(last)

    return tokens(state, prompt[-1])


def tokens_per_second(model, prompt, num_tokens: int, key: PRNGKeyArray, *, temperature: float = 1.0,
                      repeats: int = 1) -> float:
    """Generation throughput of `generate` after compilation: num_tokens / best wall time of `repeats` calls."""
    import time

    model = _prepared(model)  # once, outside the timed calls (generate would prepare it again in each)
    generate(model, None, prompt, num_tokens, key, temperature)[0].block_until_ready()  # compile
    best = math.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        jax.block_until_ready(generate(model, None, prompt, num_tokens, key, temperature)[0])
        best = min(best, time.perf_counter() - t0)
    return num_tokens / best


def _stu_blocks(model) -> list[int]:
    blocks = tuple(getattr(model, "blocks", ()))
    return [i for i, b in enumerate(blocks) if callable(getattr(getattr(b, "layer", None), "stepper", None))]


def _prepared(model):
    """`model` with its STU layers swapped for their exact-route steppers (the kernel built once), else as is."""
    return with_stu_route(model, "exact") if _stu_blocks(model) else model


def with_stu_route(model, route: str, *, block: int | None = None, state_size: int | None = None):
    """`model` (a `SequenceModel`) with each STU layer replaced by `layer.stepper(route, ...)`; other layers stay.

    Routes: "exact" (what `step` does), "futurefill" / "futurefill_epoched" (exact, at most seq_len steps
    from the initial state), "lds" (approximate, `state_size` distilled poles). ValueError if no block has
    an STU layer, or for a bad route (raised by the layer)."""
    blocks = tuple(getattr(model, "blocks", ()))
    idx = _stu_blocks(model)
    if not idx:
        raise ValueError(f"{type(model).__name__} has no STU layer (a block layer with .stepper); with_stu_route "
                         "applies to models built with layer='stu' or 'ar_stu'.")
    steppers = [blocks[i].layer.stepper(route, block=block, state_size=state_size) for i in idx]
    return eqx.tree_at(lambda m: [m.blocks[i].layer for i in idx], model, steppers)
