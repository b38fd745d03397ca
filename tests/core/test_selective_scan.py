"""Selective scan vs a plain NumPy loop (float64 and float32), both methods, grads and input errors."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from ssmlab.core.scan import resolve_method
from ssmlab.core.selective_scan import selective_scan

_SCAN = {m: jax.jit(partial(selective_scan, method=m)) for m in ("sequential", "associative")}


def _inputs(seed, L, Dch=3, N=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((L, Dch))
    delta = np.log1p(np.exp(rng.standard_normal((L, Dch)) - 2.0))  # softplus: positive, around 0.1
    A = -np.exp(rng.standard_normal((Dch, N)))
    B, C = rng.standard_normal((L, N)), rng.standard_normal((L, N))
    D = rng.standard_normal(Dch)
    return tuple(x.astype(dtype) for x in (u, delta, A, B, C, D))


def _numpy_loop(u, delta, A, B, C, D):
    """x_t[d] = exp(Δ[t,d] A[d]) x_{t-1}[d] + Δ[t,d] u[t,d] B[t]; y[t,d] = x_t[d] · C[t] + D[d] u[t,d]."""
    L, Dch = u.shape
    x = np.zeros(A.shape)
    y = np.zeros((L, Dch))
    for t in range(L):
        for d in range(Dch):
            x[d] = np.exp(delta[t, d] * A[d]) * x[d] + delta[t, d] * u[t, d] * B[t]
            y[t, d] = x[d] @ C[t] + D[d] * u[t, d]
    return y


@pytest.mark.parametrize("L", [1, 7, 64, 1000])
@pytest.mark.parametrize("method", ["sequential", "associative"])
def test_matches_numpy_loop_float64(L, method):
    args = _inputs(L, L)
    ref = _numpy_loop(*args)
    y = np.asarray(_SCAN[method](*map(jnp.asarray, args)))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-10 * np.max(np.abs(ref)))


def test_without_skip_and_auto():
    args = _inputs(3, 20)
    ref = _numpy_loop(*args[:5], np.zeros(3))
    y = selective_scan(*map(jnp.asarray, args[:5]), None, method="auto")
    np.testing.assert_allclose(np.asarray(y), ref, rtol=0, atol=1e-10 * np.max(np.abs(ref)))
    assert resolve_method("auto") == ("sequential" if jax.default_backend() == "cpu" else "associative")


@pytest.mark.parametrize("method", ["sequential", "associative"])
def test_float32_error(method):
    # Both routes accumulate float32 round-off per step over a contracting recurrence (|Ā| < 1): measured
    # max error / max|y| about 3e-7 at L = 1000; 2e-5 leaves room for other CPUs and XLA versions.
    args = _inputs(5, 1000)
    ref = _numpy_loop(*args)
    y = _SCAN[method](*(jnp.asarray(x, jnp.float32) for x in args))
    assert y.dtype == jnp.float32
    assert np.max(np.abs(np.asarray(y, np.float64) - ref)) <= 2e-5 * np.max(np.abs(ref))


@pytest.mark.parametrize("method", ["sequential", "associative"])
def test_grads(method):
    u, delta, A, B, C, D = map(jnp.asarray, _inputs(7, 6, Dch=2, N=3))
    check_grads(lambda *a: _SCAN[method](*a), (u, delta, A, B, C, D), order=1, modes=("fwd", "rev"))


@pytest.mark.slow
def test_methods_have_equal_grads():
    args = tuple(map(jnp.asarray, _inputs(8, 12)))
    grads = {m: jax.grad(lambda *a, m=m: jnp.sum(jnp.sin(_SCAN[m](*a))), argnums=tuple(range(6)))(*args)
             for m in _SCAN}
    for g_seq, g_assoc in zip(grads["sequential"], grads["associative"], strict=True):
        np.testing.assert_allclose(np.asarray(g_assoc), np.asarray(g_seq), rtol=0,
                                   atol=1e-10 * float(jnp.max(jnp.abs(g_seq))))


def test_vmap_over_batch():
    batch = [tuple(map(jnp.asarray, _inputs(s, 9))) for s in range(3)]
    stacked = [jnp.stack(xs) for xs in zip(*batch, strict=True)]
    y = jax.vmap(_SCAN["associative"], in_axes=(0, 0, 0, 0, 0, 0))(*stacked)
    for i, args in enumerate(batch):
        np.testing.assert_allclose(np.asarray(y[i]), _numpy_loop(*map(np.asarray, args)), atol=1e-10 * 10)


@pytest.mark.parametrize(("index", "shape", "match"), [
    (0, (4,), "u must have shape"),
    (1, (7, 2), "delta must have the shape of u"),
    (2, (3,), "A must have shape"),
    (2, (3, 0), "A must have shape"),
    (3, (7, 5), "B must have shape"),
    (4, (6, 4), "C must have shape"),
    (5, (2,), "D must have shape"),
])
def test_bad_shapes(index, shape, match):
    args = list(map(jnp.asarray, _inputs(0, 7)))
    args[index] = jnp.zeros(shape)
    with pytest.raises(ValueError, match=match):
        selective_scan(*args)


def test_bad_method_and_complex():
    args = list(map(jnp.asarray, _inputs(0, 4)))
    with pytest.raises(ValueError, match="method must be one of"):
        selective_scan(*args, method="parallel")
    args[2] = args[2].astype(jnp.complex128)
    with pytest.raises(TypeError, match="A must be real"):
        selective_scan(*args)
