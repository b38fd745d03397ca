"""Frozen buffers: read-only NumPy arrays held in static fields, invisible to optimisers.

A layer's fixed arrays (the STU's spectral filters and their FFT) must not move under the
standard Equinox recipe, `eqx.partition(model, eqx.is_inexact_array)` + `optax.adamw`, whose
weight decay shifts every float leaf even when its gradient is zero. A `FrozenArray` stored in an
`eqx.field(static=True)` is not a pytree leaf at all: partition, `tree_map`, `grad`,
`tree_serialise_leaves` and checkpoints never see it, and under `jit`/`vmap` it is a constant
shared by every call and every batch element. It hashes by content (computed once), so equal
layers built twice share one compiled function.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array


class FrozenArray:
    """Read-only copy of a NumPy array, hashable by content; `jnp.asarray(buf)` or `buf.value(dtype)` to use it.

    >>> import numpy as np
    >>> buf = FrozenArray(np.arange(3.0))
    >>> buf.shape, buf == FrozenArray(np.arange(3.0))
    ((3,), True)
    """

    __slots__ = ("_array", "_hash")

    def __init__(self, array: Any):
        arr = np.array(array, copy=True)
        if not np.issubdtype(arr.dtype, np.number) and arr.dtype.kind != "V":  # "V": bfloat16 from ml_dtypes
            raise TypeError(f"FrozenArray holds numeric arrays; got dtype {arr.dtype}.")
        arr.flags.writeable = False
        digest = hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=16).digest()
        object.__setattr__(self, "_array", arr)
        object.__setattr__(self, "_hash", hash((arr.shape, arr.dtype.str, digest)))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenArray is immutable.")

    @property
    def array(self) -> np.ndarray:
        """The stored (read-only) NumPy array."""
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the stored array."""
        return self._array.shape

    @property
    def dtype(self) -> np.dtype:
        """Dtype of the stored array."""
        return self._array.dtype

    @property
    def size(self) -> int:
        """Number of stored scalars."""
        return int(self._array.size)

    def value(self, dtype=None) -> Array:
        """The buffer as a JAX array (a constant when traced), optionally cast to `dtype`."""
        return jnp.asarray(self._array, dtype=dtype)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self._array if dtype is None else self._array.astype(dtype)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, FrozenArray) or self._hash != other._hash:
            return False
        return (self.shape == other.shape and self.dtype == other.dtype
                and bool(np.array_equal(self._array, other._array)))

    def __reduce__(self):
        return FrozenArray, (self._array,)

    def __repr__(self) -> str:
        return f"FrozenArray(shape={self.shape}, dtype={self.dtype})"
