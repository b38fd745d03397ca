"""The one interface every sequence layer implements, and the name -> constructor registry.

A layer maps one sequence [L, H] to [L, H] (or [L, H_out]); batches go through `jax.vmap`.
Constructors registered here share one keyword signature so a stacked model can build any
of them by name: ``factory(*, d_model: int, seq_len: int, key, **options)``. Every layer class
names its input width `d_model` as well (`d_in` is a deprecated alias, see `width_argument`).

Recurrent use (causal layers): ``state = layer.init_state()`` is a pytree whose dtype follows the
layer's parameters; ``state, y_t = layer.step(state, u_t)`` consumes one input u_t [H] (pure,
jit-able); ``y, state = layer(u, state=state)`` runs a chunk [L, H] from `state` and returns the
final state, so that chunked calls reproduce one full call. ``layer(u)`` (no state) returns y only.
Bidirectional layers read the future and refuse all three with a ValueError (`refuse_bidirectional`).
"""

from __future__ import annotations

import abc
import sys
import warnings
from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, PyTree


class AbstractSequenceLayer(eqx.Module):
    """A sequence-to-sequence layer applied to one unbatched sequence, with an optional recurrent state."""

    @abc.abstractmethod
    def __call__(self, u: Float[Array, "L Hin"]) -> Float[Array, "L Hout"]:
        """Map an input sequence [L, Hin] to an output sequence [L, Hout] (with `state=`: also the final state)."""

    def init_state(self) -> PyTree:
        """The state before the first step (a pytree of arrays in the parameters' dtype)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement init_state/step (recurrent "
                                  "inference); use the full-sequence call layer(u).")

    def step(self, state: PyTree, u_t: Float[Array, " Hin"]) -> tuple[PyTree, Float[Array, " Hout"]]:
        """One step: (state after u_t, output y_t [Hout]) from the state before it and one input u_t [Hin]."""
        raise NotImplementedError(f"{type(self).__name__} does not implement init_state/step (recurrent "
                                  "inference); use the full-sequence call layer(u).")


def refuse_bidirectional(layer: eqx.Module, what: str) -> None:
    """Raise ValueError: a bidirectional layer's output at t reads inputs after t, so it cannot `what`."""
    raise ValueError(f"{type(layer).__name__} is bidirectional (its output at t depends on later inputs), so it "
                     f"cannot {what}; build it with bidirectional=False for recurrent/streaming inference.")


def check_step_input(layer: eqx.Module, u_t, width: int):
    """`u_t` as a real float array of shape [width] (one time step), else a ValueError naming the layer."""
    u_t = jnp.asarray(u_t)
    if jnp.issubdtype(u_t.dtype, jnp.complexfloating):
        raise TypeError(f"u_t must be real for {type(layer).__name__}.step; got dtype {u_t.dtype}.")
    if not jnp.issubdtype(u_t.dtype, jnp.inexact):
        u_t = u_t.astype(jnp.result_type(float))
    if u_t.shape != (width,):
        raise ValueError(f"{type(layer).__name__}.step takes one time step u_t of shape [H]=({width},); got "
                         f"{tuple(u_t.shape)}. Use layer(u, state=state) for a chunk [L, H], jax.vmap for batches.")
    return u_t


def scan_steps(step, state: PyTree, u: Float[Array, "L Hin"]) -> tuple[Float[Array, "L Hout"], PyTree]:
    """(outputs [L, Hout], final state) of `step` scanned over u with `lax.scan` (the generic chunked call)."""

    def body(s, u_t):
        return step(s, u_t)

    state, y = lax.scan(body, state, u)
    return y, state


_INTERNAL_MODULES = ("ssmlab.layers.", "equinox", "jaxtyping", "beartype")  # runtime checkers wrap calls


def _user_stacklevel(frame) -> int:
    """stacklevel for `warnings.warn` called in `frame`: the first frame outside layers/, equinox and checkers."""
    level = 1
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(_INTERNAL_MODULES):
        frame, level = frame.f_back, level + 1
    return level


def width_argument(owner: str, d_model: int | None, d_in: int | None) -> int:
    """The input width from `d_model`, or from its deprecated alias `d_in` (with a DeprecationWarning)."""
    if d_in is not None:
        if d_model is not None:
            raise TypeError(f"{owner}: pass d_model only (d_in is its deprecated alias); got both.")
        warnings.warn(f"{owner}(d_in=...) is deprecated: pass d_model=... (the same input width), as for every "
                      "other ssmlab layer.", DeprecationWarning, stacklevel=_user_stacklevel(sys._getframe(0)))
        return d_in
    if d_model is None:
        raise TypeError(f"{owner} needs d_model=..., the input width H_in.")
    return d_model


LayerFactory = Callable[..., AbstractSequenceLayer]
_REGISTRY: dict[str, LayerFactory] = {}


def register_layer(name: str) -> Callable[[LayerFactory], LayerFactory]:
    """Decorator: register `factory(*, d_model, seq_len, key, **options)` under `name`.

    Its typed spec (what `TrainConfig.layer` holds) is the class registered with `layers.spec.register_spec`,
    else one derived from the factory's keyword parameters (`layers.spec.spec_for`)."""

    def deco(factory: LayerFactory) -> LayerFactory:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"layer name {name!r} is already registered.")
        _REGISTRY[name] = factory
        return factory

    return deco


def layer_names() -> list[str]:
    """Names of all registered sequence layers."""
    return sorted(_REGISTRY)


def make_layer(name: str, *, d_model: int, seq_len: int, key, **options) -> AbstractSequenceLayer:
    """Build the registered layer `name` with width `d_model` for sequences of length `seq_len`."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown layer {name!r}; choose one of {layer_names()}.")
    return _REGISTRY[name](d_model=d_model, seq_len=seq_len, key=key, **options)
