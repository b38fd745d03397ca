"""The differentiated part of a training step, shared by the loop (`train.loop`) and sweeps (`train.sweep`).

A step applies the model to a batch, scores the outputs with an objective (`train.objectives`) and
differentiates the objective's loss with respect to the trainable arrays only (the partition of
`train.optim.trainable`: frozen arrays are in `static` and never get a gradient). What differs between
the loop and a sweep (one run vs R stacked runs, the optimiser, the data feed) stays in those modules.

`apply(model, state, x, *, key, inference, mask) -> (outputs, state)` is how a batch x [B, ...] goes
through a model: `models.sequence_model.apply_batch` for a `SequenceModel`, `apply_layer` for a bare
sequence layer (one `[L, H] -> [L, H']` map, no norm state, nothing random).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
from jaxtyping import Array

Apply = Callable[..., tuple[Array, Any]]


def apply_layer(layer, state, x: Array, *, key=None, inference: bool = False, mask: Array | None = None):
    """(layer applied to every sequence of x [B, L, H], state unchanged): `apply` for a bare sequence layer.

    A layer has no dropout and no pooling, so `key`, `inference` and `mask` change nothing (the objective
    applies the mask to the loss). A batch of one sequence is the plain call `layer(x[0])`: a vmap over one
    example compiles to other kernels, whose last-bit rounding differs from the layer's own.
    """
    del key, inference, mask
    if x.shape[0] == 1:
        return layer(x[0])[None], state
    return jax.vmap(layer)(x), state


def loss_and_grad(objective, apply: Apply, diff, static, state, x: Array, y: Array, *, key=None,
                  mask: Array | None = None):
    """((loss, (new state, batch metrics)), gradient w.r.t. `diff`) of `objective.loss` on one batch.

    The model is `eqx.combine(diff, static)`; `diff` holds the trainable arrays (`eqx.partition(model,
    trainable(model))`), so the gradient has `diff`'s structure and frozen arrays are constants.
    """

    def loss_fn(diff_, state_):
        outputs, new_state = apply(eqx.combine(diff_, static), state_, x, key=key, mask=mask)
        loss, metrics = objective.loss(outputs, y, mask)
        return loss, (new_state, metrics)

    return jax.value_and_grad(loss_fn, has_aux=True)(diff, state)


def eval_sums(objective, apply: Apply, model, state, x: Array, y: Array, w: Array, mask: Array | None = None):
    """The objective's additive evaluation sums of one batch with example weights w [B] (inference mode)."""
    outputs, _ = apply(model, state, x, inference=True, mask=mask)
    return objective.sums(outputs, y, w, mask)
