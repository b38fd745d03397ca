"""The one interface every sequence layer implements, and the name -> constructor registry.

A layer maps one sequence [L, H] to [L, H] (or [L, H_out]); batches go through `jax.vmap`.
Constructors registered here share one keyword signature so a stacked model can build any
of them by name: ``factory(*, d_model: int, seq_len: int, key, **options)``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
from jaxtyping import Array, Float


class AbstractSequenceLayer(eqx.Module):
    """A sequence-to-sequence layer applied to one unbatched sequence."""

    @abc.abstractmethod
    def __call__(self, u: Float[Array, "L Hin"]) -> Float[Array, "L Hout"]:
        """Map an input sequence [L, Hin] to an output sequence [L, Hout]."""


LayerFactory = Callable[..., AbstractSequenceLayer]
_REGISTRY: dict[str, LayerFactory] = {}


def register_layer(name: str) -> Callable[[LayerFactory], LayerFactory]:
    """Decorator: register `factory(*, d_model, seq_len, key, **options)` under `name`."""

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
