import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest

from ssmlab.core.scan import linear_recurrence

LENGTHS = [1, 2, 3, 7, 64, 1000, 4097]


def loop_recurrence(a, bu, x0=None):
    """Python-loop reference x_t = a_t x_{t-1} + bu_t (numpy)."""
    a, bu = np.asarray(a), np.asarray(bu)
    L, N = bu.shape
    a_t = np.broadcast_to(a, (L, N))
    x = np.zeros(N, dtype=np.result_type(a, bu)) if x0 is None else np.asarray(x0).astype(np.result_type(a, bu))
    out = np.empty((L, N), dtype=x.dtype)
    for t in range(L):
        x = a_t[t] * x + bu[t]
        out[t] = x
    return out


@pytest.mark.parametrize("L", LENGTHS)
@pytest.mark.parametrize("method", ["sequential", "associative"])
@pytest.mark.parametrize("complex_", [False, True])
def test_matches_python_loop(L, method, complex_):
    rng = np.random.default_rng(L)
    N = 5
    phase = np.exp(1j * rng.uniform(0, np.pi, N)) if complex_ else np.sign(rng.normal(size=N))
    a = rng.uniform(0.5, 0.999, N) * phase
    bu = rng.normal(size=(L, N)) + (1j * rng.normal(size=(L, N)) if complex_ else 0)
    x = linear_recurrence(jnp.asarray(a), jnp.asarray(bu), method=method)
    ref = loop_recurrence(a, bu)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(np.asarray(x), ref, rtol=0, atol=1e-12 * scale * max(1, np.sqrt(L)))


def test_time_varying_and_initial_state():
    rng = np.random.default_rng(0)
    a, bu, x0 = rng.uniform(-0.9, 0.9, (50, 3)), rng.normal(size=(50, 3)), rng.normal(size=3)
    ref = loop_recurrence(a, bu, x0)
    for method in ("sequential", "associative"):
        x = linear_recurrence(jnp.asarray(a), jnp.asarray(bu), x0=jnp.asarray(x0), method=method)
        np.testing.assert_allclose(np.asarray(x), ref, atol=1e-12)


def test_float32_honest_tolerance():
    rng = np.random.default_rng(1)
    a = np.full(4, 0.999)
    bu = rng.normal(size=(4096, 4))
    ref = loop_recurrence(a, bu)
    for method in ("sequential", "associative"):
        x = linear_recurrence(jnp.asarray(a, jnp.float32), jnp.asarray(bu, jnp.float32), method=method)
        assert x.dtype == jnp.float32
        assert np.abs(np.asarray(x, np.float64) - ref).max() <= 1e-4 * np.abs(ref).max()


def test_grad_jit_vmap():
    rng = np.random.default_rng(2)
    a, bu = jnp.asarray(rng.uniform(-0.9, 0.9, 3)), jnp.asarray(rng.normal(size=(9, 3)))

    def f(a_, b_, method):
        return jnp.sum(linear_recurrence(jnp.asarray(a_), jnp.asarray(b_), method=method) ** 2)

    g_seq = jax.grad(f, argnums=(0, 1))(a, bu, "sequential")
    g_ass = jax.grad(f, argnums=(0, 1))(a, bu, "associative")
    for gs, ga in zip(g_seq, g_ass, strict=True):
        np.testing.assert_allclose(gs, ga, atol=1e-12)
    jax.test_util.check_grads(lambda a_, b_: f(a_, b_, "associative"), (a, bu), order=2, modes=("fwd", "rev"))
    batched = jax.vmap(lambda b_: linear_recurrence(a, b_))(jnp.stack([bu, 2 * bu]))
    np.testing.assert_allclose(batched[1], 2 * jax.jit(lambda b_: linear_recurrence(a, b_))(bu), atol=1e-12)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="method"):
        linear_recurrence(jnp.ones(2), jnp.ones((3, 2)), method="parallel")
    with pytest.raises(ValueError, match="bu must have shape"):
        linear_recurrence(jnp.ones(2), jnp.ones((0, 2)))
    with pytest.raises(ValueError, match="a must have shape"):
        linear_recurrence(jnp.ones(3), jnp.ones((4, 2)))
    with pytest.raises(ValueError, match="x0"):
        linear_recurrence(jnp.ones(2), jnp.ones((4, 2)), x0=jnp.ones(3))


def test_auto_picks_the_method_for_the_backend():
    from ssmlab.core.scan import resolve_method

    want = "sequential" if jax.default_backend() == "cpu" else "associative"
    assert resolve_method("auto") == want and resolve_method("associative") == "associative"
    a = jnp.array([0.9, -0.5 + 0.3j])
    bu = jnp.asarray(np.random.default_rng(1).normal(size=(37, 2)), jnp.complex128)
    np.testing.assert_array_equal(np.asarray(linear_recurrence(a, bu, method="auto")),
                                  np.asarray(linear_recurrence(a, bu, method=want)))
