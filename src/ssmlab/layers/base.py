"""The one interface every sequence layer implements, and the name -> constructor registry.

A layer maps one sequence [L, H] to [L, H] (or [L, H_out]); batches go through `jax.vmap`.
Constructors registered here share one keyword signature so a stacked model can build any
of them by name: ``factory(*, d_model: int, seq_len: int, key, **options)``. Every layer class
names its input width `d_model` as well (`d_in` is a deprecated alias, see `width_argument`).
"""

from __future__ import annotations

import abc
import sys
import warnings
from collections.abc import Callable

import equinox as eqx
from jaxtyping import Array, Float


class AbstractSequenceLayer(eqx.Module):
    """A sequence-to-sequence layer applied to one unbatched sequence."""

    @abc.abstractmethod
    def __call__(self, u: Float[Array, "L Hin"]) -> Float[Array, "L Hout"]:
        """Map an input sequence [L, Hin] to an output sequence [L, Hout]."""


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
