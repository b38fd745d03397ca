"""Input validation that names the offending argument and the fix.

Checks on shapes and sizes run at trace time (Python ints). Checks on values (NaN, |a| >= 1)
run on concrete arrays only; under `jit` they are skipped by `is_concrete`, and callers that
need them inside compiled code use `equinox.error_if`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when `x` holds real values (not a tracer inside jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def check_rank(name: str, x, ranks: tuple[int, ...], meaning: str) -> None:
    """Raise ValueError unless `x.ndim` is one of `ranks`."""
    if x.ndim not in ranks:
        raise ValueError(
            f"{name} must have rank {' or '.join(map(str, ranks))} ({meaning}); got shape {tuple(x.shape)}."
        )


def check_length(name: str, length: int) -> None:
    """Sequence lengths must be positive Python ints."""
    if not isinstance(length, (int, np.integer)) or isinstance(length, bool) or length < 1:
        raise ValueError(f"{name} must be a positive integer sequence length; got {length!r}.")


def check_finite(name: str, x) -> None:
    """Raise ValueError if a concrete array holds NaN or inf."""
    if is_concrete(x):
        arr = np.asarray(x)
        if arr.size and not np.all(np.isfinite(arr)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ValueError(f"{name} contains {bad} NaN/inf values; clean or mask the data before use.")


def check_stable(name: str, a) -> None:
    """Raise ValueError if a concrete diagonal state matrix has an entry with |a| >= 1."""
    if is_concrete(a):
        mags = np.abs(np.asarray(a))
        if mags.size and mags.max() >= 1.0:
            raise ValueError(
                f"{name} must be strictly stable (|a| < 1) for frequency-domain formulas; "
                f"max |a| = {mags.max():.6g}. Rescale the eigenvalues inside the unit disc, "
                "or use the recurrent/convolution evaluation, which does not assume stability."
            )


# --- dtypes -----------------------------------------------------------------------------------
# Policy (docs/reliability.md, "Dtypes and edge cases"): integer and bool arrays are cast to the
# default float dtype (float64 with x64, else float32) and the result is float; bf16/fp16 are
# computed in float32 (jnp.fft rejects them, and scans/powers lose too much in 8-11 bits) and
# cast back; complex is accepted where the maths is complex and refused by name where the
# function is real-valued by definition.


def default_float() -> jnp.dtype:
    """The float dtype integer inputs are cast to: float64 when x64 is enabled, else float32."""
    return jnp.dtype(jnp.result_type(float))


def result_dtype(*xs) -> jnp.dtype:
    """`jnp.result_type(*xs)` on JAX's standard promotion lattice, whatever the promotion mode in force.

    The one place ssmlab promotes on purpose (mixed precisions; a complex system with real inputs): the
    arrays are then cast to this dtype explicitly, so the maths also runs under
    `jax.numpy_dtype_promotion("strict")` (as tests/core and tests/theory do).
    """
    with jax.numpy_dtype_promotion("standard"):
        return jnp.dtype(jnp.result_type(*xs))


def complex_dtype(*xs) -> jnp.dtype:
    """The complex dtype of the inputs' precision: complex128 if any is 64-bit (or int under x64), else complex64."""
    return result_dtype(*xs, jnp.complex64)


def promote(*xs) -> tuple:
    """The arrays cast to their common `result_dtype`: JAX's implicit promotion, written out (same values)."""
    dtype = result_dtype(*xs)
    return tuple(jnp.asarray(x).astype(dtype) for x in xs)


def as_inexact(name: str, x, *, complex_ok: bool = True):
    """`x` as a float or complex JAX array: integers/bools cast to `default_float()`.

    Raises TypeError naming `name` for complex input when `complex_ok` is False, and for
    non-numeric dtypes.
    """
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        if not complex_ok:
            raise TypeError(f"{name} must be real (float or integer); got dtype {x.dtype}. Pass jnp.real({name}) "
                            "or split real and imaginary parts into channels.")
        return x
    if jnp.issubdtype(x.dtype, jnp.floating):
        return x
    if jnp.issubdtype(x.dtype, jnp.integer) or jnp.issubdtype(x.dtype, jnp.bool_):
        return x.astype(default_float())
    raise TypeError(f"{name} must be a numeric array; got dtype {x.dtype}.")


def _real_work_dtype(dtype) -> jnp.dtype:
    real = jnp.dtype(jnp.finfo(dtype).dtype)  # real component type (complex64 -> float32)
    return jnp.dtype(jnp.float32) if real.itemsize < 4 else real


def float_inputs(*named, real: tuple[str, ...] = ()) -> tuple[list, jnp.dtype]:
    """Validate (name, array) pairs and return (arrays in the working dtype, output dtype).

    The output dtype is the promotion of the inputs after integers became float; the working
    dtype is that with bf16/fp16 raised to float32. Names in `real` refuse complex input.
    """
    arrays = [as_inexact(name, x, complex_ok=name not in real) for name, x in named]
    out = result_dtype(*arrays)
    work = _real_work_dtype(out)
    return [x.astype(result_dtype(work, x.dtype)) for x in arrays], out


def check_float_dtype(name: str, dtype) -> None:
    """Raise TypeError unless `dtype` is a real floating dtype (float16, bfloat16, float32, float64)."""
    try:
        ok = jnp.issubdtype(jnp.dtype(dtype), jnp.floating)
    except TypeError:
        ok = False
    if not ok:
        raise TypeError(f"{name} must be a real floating dtype (jnp.float32, jnp.float64, ...); got {dtype!r}.")


def check_positive_int(name: str, value) -> None:
    """Raise ValueError unless `value` is a Python/NumPy integer >= 1 (not a float, not a bool)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def stable(name: str, a, *, hint: str = ""):
    """Return `a` after checking |a| < 1: ValueError on concrete arrays, `equinox.error_if` under jit.

    Under `eqx.filter_jit` the traced check raises `EquinoxRuntimeError`; under plain `jax.jit`
    JAX reports the same message inside a `JaxRuntimeError` (a callback error).
    """
    if is_concrete(a):
        check_stable(name, a)
        return a
    msg = (f"{name} must be strictly stable (|a| < 1) for frequency-domain formulas (checked inside jit). "
           f"{hint or 'Rescale the eigenvalues inside the unit disc, or use a recurrent/convolution evaluation.'}")
    return eqx.error_if(a, jnp.any(jnp.abs(a) >= 1.0), msg)
