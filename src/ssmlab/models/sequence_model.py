r"""Stacked sequence model: encoder → depth × residual block → pooling → decoder.

One block (pre-norm, as in the LRU paper's Fig. 1 and the S5 / minimal-LRU code):

    z = x;  x = norm(x);  x = layer(x);  x = dropout(GELU(x));  x = mix(x);  x = dropout(x);  x = z + x

(post-norm moves `norm` after the residual sum). `layer` is any registered sequence layer
("linear_ssm", "lru", "s4d", "stu", ...). Mixing: "glu" W₁x ⊙ σ(W₂x) (full GLU, LRU paper),
"half_glu" x ⊙ σ(Wx) (S5 default), "mlp" W₂ GELU(W₁x). Norms: "layer" (per time step) or
"batch" (statistics over batch and time, as on LRA). BatchNorm needs a named batch axis, so a
batch goes through `apply_batch`, which vmaps with axis_name "batch" and threads the
`eqx.nn.State` of the running statistics. Encoder: Linear for real inputs [L, d_in], Embedding
for token inputs [L]. Pooling: "mean", "max" (per channel, over time) or "last" (then one decoder
output), or "none" (sequence to sequence). "max" is ours, not an LRA setting: a global max keeps a
feature that fires at a few steps at full size, where the mean divides it by L (on short-contour
Pathfinder-32 it is what lets a small model learn within a CPU budget; see `docs/lra.md`).

Padding masks. A bool `mask` [L] (True = valid step; [B, L] through `apply_batch`) restricts the
pooling to the valid steps: "mean" is Σ_t m_t h_t / Σ_t m_t, "max" is max over valid t, "last" reads h
at the largest valid t,
"none" ignores the mask (weight the per-step loss instead). Everything before the pooling runs on
the full padded sequence, so with causal layers and padding at the end the valid outputs, and hence
the masked pooling, equal those of the unpadded sequence. Not masked: the reversed pass of
bidirectional layers (it reads the padding first) and BatchNorm's training statistics over
(batch, time), which include padded steps (its running statistics are applied per step, so
inference is unaffected). An all-False mask pools to zeros rather than NaN. Without a mask the
computation is the unmasked one, unchanged.

Recurrent inference (causal layers, LayerNorm, inference mode: no dropout): ``state = model.init_state()``
(one layer state per block), ``state, out_t = model.step(state, x_t)`` for one input vector [d_in] or one
token id, and ``out, state = model.stream(x, state)`` for a chunk. The output at t is the decoder applied
to the last block's h_t, which is what pooling "none" returns at step t (and "last" on the prefix x[:t+1]).
BatchNorm normalises with statistics over the batch and time, so models with norm="batch" refuse.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ..layers.base import AbstractSequenceLayer, make_layer
from ..layers.spec import LayerSpec

NORMS = ("layer", "batch")
MIXINGS = ("glu", "half_glu", "mlp")
POOLINGS = ("mean", "max", "last", "none")
INPUT_KINDS = ("real", "tokens")


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {options}; got {value!r}.")


class Dropout(eqx.Module):
    """Inverted dropout x ⊙ m / (1 - p), m ~ Bernoulli(1 - p); identity at inference or without a key.

    `p` is a static field, so it is never a pytree leaf (and never reaches an optimiser or a checkpoint).
    """

    p: float = eqx.field(static=True)

    def __call__(self, x: Array, *, key: PRNGKeyArray | None, inference: bool) -> Array:
        """Apply dropout to x (any shape)."""
        if inference or key is None or self.p == 0.0:
            return x
        keep = jr.bernoulli(key, 1.0 - self.p, x.shape)
        return jnp.where(keep, x / (1.0 - self.p), jnp.zeros_like(x))


class Mixing(eqx.Module):
    """Channel mixing after the sequence layer: GLU, half-GLU or a two-layer MLP."""

    w1: eqx.nn.Linear
    w2: eqx.nn.Linear | None
    kind: str = eqx.field(static=True)

    def __init__(self, *, d_model: int, kind: str, key: PRNGKeyArray):
        """Build the mixing weights for width `d_model`."""
        _choice("mixing", kind, MIXINGS)
        k1, k2 = jr.split(key)
        self.kind = kind
        if kind == "half_glu":
            self.w1, self.w2 = eqx.nn.Linear(d_model, d_model, key=k1), None
        elif kind == "glu":
            self.w1, self.w2 = eqx.nn.Linear(d_model, 2 * d_model, key=k1), None
        else:
            self.w1, self.w2 = eqx.nn.Linear(d_model, 2 * d_model, key=k1), eqx.nn.Linear(2 * d_model, d_model, key=k2)

    def __call__(self, x: Array) -> Array:
        """Mix channels of one time step [H] -> [H]."""
        if self.kind == "half_glu":
            return x * jax.nn.sigmoid(self.w1(x))
        if self.kind == "glu":
            return jax.nn.glu(self.w1(x))
        return self.w2(jax.nn.gelu(self.w1(x)))


class Block(eqx.Module):
    """Residual block: norm → sequence layer → GELU → dropout → mixing → dropout → + skip."""

    norm: eqx.nn.LayerNorm | eqx.nn.BatchNorm
    layer: AbstractSequenceLayer
    mix: Mixing
    dropout: Dropout
    prenorm: bool = eqx.field(static=True)

    def __init__(self, *, layer: AbstractSequenceLayer, d_model: int, norm: str, mixing: str, dropout: float,
                 prenorm: bool, bn_momentum: float = 0.9, key: PRNGKeyArray):
        """Wrap `layer` (width `d_model`) in norm, mixing, dropout and a residual connection."""
        _choice("norm", norm, NORMS)
        self.norm = (eqx.nn.LayerNorm(d_model) if norm == "layer"
                     else eqx.nn.BatchNorm(d_model, axis_name=("batch", "time"), momentum=bn_momentum, mode="ema"))
        self.layer = layer
        self.mix = Mixing(d_model=d_model, kind=mixing, key=key)
        self.dropout = Dropout(dropout)
        self.prenorm = prenorm

    def _norm(self, x, state, inference):
        if isinstance(self.norm, eqx.nn.LayerNorm):
            return jax.vmap(self.norm)(x), state
        return jax.vmap(lambda xt, st: self.norm(xt, st, inference=inference), in_axes=(0, None),
                        out_axes=(0, None), axis_name="time")(x, state)

    def __call__(self, x: Array, state: eqx.nn.State, *, key: PRNGKeyArray | None, inference: bool):
        """Apply the block to one sequence [L, H]; returns (output [L, H], state)."""
        k1, k2 = (None, None) if key is None else jr.split(key)
        z = x
        if self.prenorm:
            x, state = self._norm(x, state, inference)
        x = self.layer(x)
        x = self.dropout(jax.nn.gelu(x), key=k1, inference=inference or key is None)
        x = self.dropout(jax.vmap(self.mix)(x), key=k2, inference=inference or key is None)
        x = z + x
        if not self.prenorm:
            x, state = self._norm(x, state, inference)
        return x, state

    def _check_streamable(self) -> None:
        if isinstance(self.norm, eqx.nn.BatchNorm):
            raise ValueError("BatchNorm normalises with statistics over the batch and whole sequence, so a model with "
                             "norm='batch' cannot run step by step; build it with norm='layer'.")

    def step(self, state, x_t: Float[Array, " H"]):
        """One time step [H] at inference (no dropout): (layer state after it, output [H])."""
        self._check_streamable()
        z = x_t
        if self.prenorm:
            x_t = self.norm(x_t)
        state, x_t = self.layer.step(state, x_t)
        x_t = z + self.mix(jax.nn.gelu(x_t))
        return state, (x_t if self.prenorm else self.norm(x_t))

    def stream(self, x: Float[Array, "L H"], state):
        """A chunk [L, H] from layer state `state` at inference: (outputs [L, H], final layer state)."""
        self._check_streamable()
        z = x
        if self.prenorm:
            x = jax.vmap(self.norm)(x)
        x, state = self.layer(x, state=state)
        x = z + jax.vmap(self.mix)(jax.nn.gelu(x))
        return (x if self.prenorm else jax.vmap(self.norm)(x)), state


class SequenceModel(eqx.Module):
    """encoder → depth × Block(any registered layer) → pooling → decoder, on one sequence."""

    encoder: eqx.nn.Linear | eqx.nn.Embedding
    blocks: tuple[Block, ...]
    decoder: eqx.nn.Linear
    input_kind: str = eqx.field(static=True)
    pooling: str = eqx.field(static=True)

    def __init__(self, *, layer: str | LayerSpec, d_model: int, depth: int, d_out: int, seq_len: int,
                 input_kind: str = "real", d_in: int = 1, vocab_size: int = 0, norm: str = "layer",
                 prenorm: bool = True, mixing: str = "glu", dropout: float = 0.0, pooling: str = "mean",
                 bn_momentum: float = 0.9, layer_options: dict | None = None, key: PRNGKeyArray):
        """Build the stack of `layer`: a spec (`LRUSpec(state_size=8)`, built by `spec.build`) or a registered
        name whose factory gets `layer_options` (e.g. state_size, r_min; `make_layer`)."""
        if isinstance(layer, LayerSpec) and layer_options:
            raise TypeError(f"layer is a spec ({type(layer).__name__}); give its options as its fields, not as "
                            f"layer_options={layer_options!r}.")
        _choice("input_kind", input_kind, INPUT_KINDS)
        _choice("pooling", pooling, POOLINGS)
        if depth < 1 or d_model < 1 or d_out < 1 or seq_len < 1:
            raise ValueError(f"depth, d_model, d_out and seq_len must be >= 1; got {depth}, {d_model}, {d_out}, "
                             f"{seq_len}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}.")
        if input_kind == "tokens" and vocab_size < 1:
            raise ValueError("token inputs need vocab_size >= 1 (the embedding size); pass vocab_size=.")
        k_enc, k_dec, *k_blocks = jr.split(key, 2 + 2 * depth)
        self.encoder = (eqx.nn.Linear(d_in, d_model, key=k_enc) if input_kind == "real"
                        else eqx.nn.Embedding(vocab_size, d_model, key=k_enc))
        self.blocks = tuple(
            Block(layer=_build_layer(layer, d_model, seq_len, k_blocks[2 * i], layer_options),
                  d_model=d_model, norm=norm, mixing=mixing, dropout=dropout, prenorm=prenorm,
                  bn_momentum=bn_momentum, key=k_blocks[2 * i + 1])
            for i in range(depth))
        self.decoder = eqx.nn.Linear(d_model, d_out, key=k_dec)
        self.input_kind = input_kind
        self.pooling = pooling

    def __call__(self, x: Array, state: eqx.nn.State, *, key: PRNGKeyArray | None = None, inference: bool = False,
                 mask: Bool[Array | np.ndarray, " L"] | None = None):
        """One sequence ([L, d_in] real or [L] tokens) -> (outputs [d_out] or [L, d_out], state).

        `mask` [L] (True = valid step) makes "mean"/"last" pooling skip padded steps; see the module docstring.
        """
        if self.input_kind == "real" and (x.ndim != 2 or x.shape[0] == 0):
            raise ValueError(f"real inputs must have shape [L, d_in]; got {tuple(x.shape)}. "
                             "Use apply_batch for batches.")
        if self.input_kind == "tokens" and x.ndim != 1:
            raise ValueError(f"token inputs must have shape [L]; got {tuple(x.shape)}. Use apply_batch for batches.")
        if mask is not None and mask.shape != x.shape[:1]:
            raise ValueError(f"mask must have shape [L]={x.shape[:1]} (one flag per step of x); got "
                             f"{tuple(mask.shape)}. Use apply_batch for batches.")
        h = jax.vmap(self.encoder)(x)
        keys = [None] * len(self.blocks) if key is None else list(jr.split(key, len(self.blocks)))
        for block, k in zip(self.blocks, keys, strict=True):
            h, state = block(h, state, key=k, inference=inference)
        if self.pooling == "none":
            return jax.vmap(self.decoder)(h), state
        return self.decoder(_pool(h, mask, self.pooling)), state


    def init_state(self) -> tuple:
        """Recurrent state before the first step: one `layer.init_state()` per block."""
        for block in self.blocks:
            block._check_streamable()
        return tuple(block.layer.init_state() for block in self.blocks)

    def _encode_step(self, x_t: Array) -> Array:
        if self.input_kind == "tokens":
            if jnp.ndim(x_t) != 0:
                raise ValueError(f"token inputs step one token id (a scalar); got shape {tuple(jnp.shape(x_t))}.")
            return self.encoder(x_t)
        if jnp.ndim(x_t) != 1:
            raise ValueError(f"real inputs step one vector [d_in]; got shape {tuple(jnp.shape(x_t))}.")
        return self.encoder(x_t)

    def step(self, state: tuple, x_t: Array) -> tuple[tuple, Float[Array, " d_out"]]:
        """One step at inference: (state after x_t, decoder output [d_out] at t) for a token id or a vector [d_in]."""
        h = self._encode_step(x_t)
        new = []
        for block, s in zip(self.blocks, state, strict=True):
            s, h = block.step(s, h)
            new.append(s)
        return tuple(new), self.decoder(h)

    def stream(self, x: Array, state: tuple) -> tuple[Float[Array, "L d_out"], tuple]:
        """A chunk ([L, d_in] or [L] tokens) from `state` at inference: (per-step outputs [L, d_out], final state)."""
        if x.ndim != (1 if self.input_kind == "tokens" else 2):
            raise ValueError(f"stream takes one chunk ([L] tokens or [L, d_in]); got shape {tuple(x.shape)}.")
        h = jax.vmap(self.encoder)(x)
        new = []
        for block, s in zip(self.blocks, state, strict=True):
            h, s = block.stream(h, s)
            new.append(s)
        return jax.vmap(self.decoder)(h), tuple(new)


def _build_layer(layer: str | LayerSpec, d_model: int, seq_len: int, key, options: dict | None):
    if isinstance(layer, LayerSpec):
        return layer.build(d_model=d_model, seq_len=seq_len, key=key)
    return make_layer(layer, d_model=d_model, seq_len=seq_len, key=key, **(options or {}))


def _pool(h: Float[Array, "L H"], mask: Bool[Array | np.ndarray, " L"] | None, pooling: str) -> Float[Array, " H"]:
    """Mean, max or last step of h; with a mask: Σ_t m_t h_t / max(Σ_t m_t, 1), max over t with m_t, or
    h at the last t with m_t."""
    if mask is None:
        if pooling == "mean":
            return jnp.mean(h, axis=0)
        return jnp.max(h, axis=0) if pooling == "max" else h[-1]
    if pooling == "last":
        return h[jnp.max(jnp.where(mask, jnp.arange(h.shape[0]), 0))]
    if pooling == "max":  # an all-False mask gives zeros, as for the mean
        return jnp.where(jnp.any(mask), jnp.max(jnp.where(mask[:, None], h, -jnp.inf), axis=0), 0.0)
    w = mask.astype(h.dtype)
    return jnp.sum(h * w[:, None], axis=0) / jnp.maximum(jnp.sum(w), 1)


def apply_batch(model: SequenceModel, state: eqx.nn.State, x: Array, *, key: PRNGKeyArray | None = None,
                inference: bool = False, mask: Bool[Array | np.ndarray, "B L"] | None = None):
    """Apply `model` to a batch x [B, ...] (optional `mask` [B, L]) with one dropout key per example.

    Returns (outputs, state).
    """
    keys = None if key is None else jr.split(key, x.shape[0])
    fn = jax.vmap(lambda xi, ki, mi, st: model(xi, st, key=ki, inference=inference, mask=mi),
                  in_axes=(0, None if keys is None else 0, None if mask is None else 0, None), out_axes=(0, None),
                  axis_name="batch")
    return fn(x, keys, mask, state)


def make_model(*, layer: str | LayerSpec, d_model: int, depth: int, d_out: int, seq_len: int, key: PRNGKeyArray, **kw):
    """(model, state): a `SequenceModel` and its initial norm state (empty for LayerNorm)."""
    return eqx.nn.make_with_state(SequenceModel)(layer=layer, d_model=d_model, depth=depth, d_out=d_out,
                                                  seq_len=seq_len, key=key, **kw)
