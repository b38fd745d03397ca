"""LRU: scan = associative scan = convolution; stability; ring init distribution; causality."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import stats

from ssmlab.core.scan import linear_recurrence
from ssmlab.layers import make_layer
from ssmlab.layers.lru import LRU, gamma_log_init, lru_eigenvalues, ring_init


def _lru(key, *, N=8, H=3, r_min=0.0, r_max=1.0, **kw):
    return LRU(state_size=N, d_model=H, r_min=r_min, r_max=r_max, dtype=jnp.float64, key=key, **kw)


def _direct_sum(layer, u):
    """y_k = Σ_j Re(C λ^j γ B) u_{k-j} + D u_k as an explicit Toeplitz sum (numpy, complex128)."""
    lam = np.asarray(layer.eigenvalues)
    bn = np.asarray(layer.b_normalised)
    c = np.asarray(layer.c)
    u = np.asarray(u)
    L = u.shape[0]
    powers = lam[None, :] ** np.arange(L)[:, None]
    kern = np.real(np.einsum("hn,jn,ni->jhi", c, powers, bn))
    y = np.zeros_like(u)
    for k in range(L):
        y[k] = np.einsum("jhi,ji->h", kern[: k + 1], u[k::-1])
    return y + np.asarray(layer.d)[None, :] * u


@pytest.mark.parametrize("L", [1, 7, 64])
def test_recurrent_convolution_and_direct_sum_agree(key, L):
    k1, k2 = jr.split(key)
    layer = _lru(k1, r_min=0.5, r_max=0.999)
    u = jr.normal(k2, (L, 3), jnp.float64)
    seq = layer.with_mode("recurrent", "sequential")(u)
    assoc = layer.with_mode("recurrent", "associative")(u)
    conv = layer.with_mode("convolution")(u)
    ref = _direct_sum(layer, u)
    scale = np.max(np.abs(ref))
    assert np.max(np.abs(np.asarray(seq) - ref)) <= 1e-12 * scale * max(L, 1)
    assert np.max(np.abs(np.asarray(assoc) - np.asarray(seq))) <= 1e-10 * scale
    assert np.max(np.abs(np.asarray(conv) - np.asarray(seq))) <= 1e-10 * scale


@pytest.mark.slow
def test_long_sequence_scan_vs_convolution(key):
    k1, k2 = jr.split(key)
    layer = _lru(k1, N=16, H=2, r_min=0.9, r_max=0.9999)
    u = jr.normal(k2, (4096, 2), jnp.float64)
    seq = eqx.filter_jit(layer.with_mode("recurrent", "sequential"))(u)
    assoc = eqx.filter_jit(layer)(u)
    conv = eqx.filter_jit(layer.with_mode("convolution"))(u)
    scale = float(jnp.max(jnp.abs(seq)))
    assert float(jnp.max(jnp.abs(assoc - seq))) <= 1e-10 * scale
    assert float(jnp.max(jnp.abs(conv - seq))) <= 1e-10 * scale


def test_stable_for_any_nu_log_float64():
    nu = jnp.linspace(-30.0, 30.0, 2001, dtype=jnp.float64)
    mag = jnp.abs(lru_eigenvalues(nu, jnp.zeros_like(nu)))
    assert bool(jnp.all(mag < 1.0)) and bool(jnp.all(mag >= 0.0))
    # closed form |λ| = exp(-exp(ν)) computed independently
    np.testing.assert_allclose(np.asarray(mag), np.exp(-np.exp(np.asarray(nu))), rtol=1e-12, atol=1e-300)


def test_float32_rounds_to_one_but_never_exceeds():
    nu = jnp.linspace(-30.0, 10.0, 4001, dtype=jnp.float32)
    mag = jnp.abs(lru_eigenvalues(nu, jnp.zeros_like(nu)))
    assert mag.dtype == jnp.float32
    assert bool(jnp.all(mag <= 1.0))
    assert bool(jnp.all(mag[nu > -17.0] < 1.0))  # documented threshold ~ -17.3


def test_ring_init_distribution(key):
    r_min, r_max, max_phase = 0.4, 0.95, 3.0
    with jax.enable_x64(True):
        nu, theta = ring_init(key, state_size=100_000, r_min=r_min, r_max=r_max, max_phase=max_phase,
                              dtype=jnp.float64)
        lam = np.asarray(lru_eigenvalues(nu, theta))
    mag2 = np.abs(lam) ** 2
    phase = np.exp(np.asarray(theta))  # arg before wrapping; in [0, max_phase)
    assert stats.kstest(mag2, stats.uniform(r_min**2, r_max**2 - r_min**2).cdf).pvalue > 1e-3
    assert stats.kstest(phase, stats.uniform(0.0, max_phase).cdf).pvalue > 1e-3
    np.testing.assert_allclose(np.angle(lam) % (2 * np.pi), phase % (2 * np.pi), atol=1e-9)


def test_gamma_normalises_white_noise_state_variance(key):
    nu, theta = ring_init(key, state_size=64, r_min=0.9, r_max=0.999, max_phase=6.28, dtype=jnp.float64)
    gamma = jnp.exp(gamma_log_init(nu))
    lam = lru_eigenvalues(nu, theta)
    # stationary variance of x = λ x + γ w (w white, unit variance) is γ²/(1 - |λ|²) = 1
    np.testing.assert_allclose(np.asarray(gamma**2 / (1 - jnp.abs(lam) ** 2)), 1.0, rtol=1e-10)
    # and check by simulation, independently of the closed form
    w = jr.normal(jr.key(3), (20_000, 64), jnp.float64)
    x = linear_recurrence(lam, gamma[None, :] * w)
    var = np.mean(np.abs(np.asarray(x[5000:])) ** 2, axis=0)
    assert np.all(np.abs(var - 1.0) < 0.35)


def test_causality_and_linearity(key):
    k1, k2, k3 = jr.split(key, 3)
    layer = _lru(k1)
    u = jr.normal(k2, (50, 3), jnp.float64)
    v = jr.normal(k3, (50, 3), jnp.float64)
    t = 20
    layer = eqx.filter_jit(layer)
    y = layer(u)
    y2 = layer(u.at[t].add(1.0))
    np.testing.assert_array_equal(np.asarray(y[:t]), np.asarray(y2[:t]))
    assert float(jnp.max(jnp.abs(y2[t:] - y[t:]))) > 0
    np.testing.assert_allclose(np.asarray(layer(2.0 * u - 3.0 * v)), np.asarray(2.0 * layer(u) - 3.0 * layer(v)),
                               atol=1e-12)


def test_transforms_and_grads(key):
    k1, k2 = jr.split(key)
    layer = _lru(k1, N=4, H=2)
    us = jr.normal(k2, (3, 11, 2), jnp.float64)
    batched = jax.vmap(layer)(us)
    np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(layer(us[1])), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(eqx.filter_jit(layer)(us[0])), np.asarray(layer(us[0])), rtol=1e-13)

    @jax.jit
    def loss(nu, theta):
        return jnp.sum(_replace(layer, nu_log=nu, theta_log=theta)(us[0]) ** 2)

    check_grads(loss, (layer.nu_log, layer.theta_log), order=1, modes=("rev",))


def _replace(layer, **kw):
    for name, value in kw.items():
        layer = eqx.tree_at(lambda m, n=name: getattr(m, n), layer, value)
    return layer


@pytest.mark.slow
def test_float32_close_to_float64(key):
    k1, k2 = jr.split(key)
    layer64 = _lru(k1, N=16, H=4, r_min=0.9, r_max=0.999)
    layer32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32) if isinstance(x, jax.Array) else x, layer64)
    u = jr.normal(k2, (256, 4), jnp.float64)
    y64 = eqx.filter_jit(layer64)(u)
    y32 = eqx.filter_jit(layer32)(u.astype(jnp.float32))
    assert y32.dtype == jnp.float32
    rel = float(jnp.max(jnp.abs(y32 - y64)) / jnp.max(jnp.abs(y64)))
    assert rel < 1e-4


def test_registry_and_errors(key):
    layer = make_layer("lru", d_model=5, seq_len=32, key=key, state_size=6)
    assert isinstance(layer, LRU) and layer(jnp.ones((32, 5), jnp.float32)).shape == (32, 5)
    with pytest.raises(ValueError, match="r_min"):
        LRU(state_size=4, d_model=2, r_min=0.9, r_max=0.5, key=key)
    with pytest.raises(ValueError, match="max_phase"):
        LRU(state_size=4, d_model=2, max_phase=0.0, key=key)
    with pytest.raises(ValueError, match="mode"):
        LRU(state_size=4, d_model=2, mode="fft", key=key)
    with pytest.raises(ValueError, match=r"\[L, H\]"):
        layer(jnp.ones((32, 4), jnp.float32))


@pytest.mark.slow
def test_float32_error_at_long_length_near_unit_circle(key):
    """Spec invariant 7: f32 vs f64 at L = 16,384 with |λ| up to 0.9999 (the hard case); reported and bounded."""
    k1, k2 = jr.split(key)
    layer64 = _lru(k1, N=16, H=2, r_min=0.99, r_max=0.9999)
    layer32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32) if isinstance(x, jax.Array) else x, layer64)
    u = jr.normal(k2, (16_384, 2), jnp.float64)
    y64 = eqx.filter_jit(layer64.with_mode("recurrent", "sequential"))(u)
    errs = {}
    for method in ("sequential", "associative"):
        y32 = eqx.filter_jit(layer32.with_mode("recurrent", method))(u.astype(jnp.float32))
        errs[method] = float(jnp.max(jnp.abs(y32 - y64)) / jnp.max(jnp.abs(y64)))
    print("float32 relative error at L=16384:", errs)
    assert max(errs.values()) < 1e-3


def test_bidirectional_adds_reversed_pass_with_second_readout(key):
    k1, k2 = jr.split(key)
    layer = _lru(k1, N=4, H=2, bidirectional=True)
    u = jr.normal(k2, (17, 2), jnp.float64)
    fwd_only = eqx.tree_at(lambda m: (m.c2_re, m.c2_im), layer, (None, None), is_leaf=lambda x: x is None)
    back = eqx.tree_at(lambda m: (m.c_re, m.c_im, m.d), fwd_only, (layer.c2_re, layer.c2_im, jnp.zeros(2)))
    expect = _direct_sum(fwd_only, u) + _direct_sum(back, u[::-1])[::-1]
    for mode in ("recurrent", "convolution"):
        y = eqx.filter_jit(layer.with_mode(mode))(u)
        assert float(jnp.max(jnp.abs(y - expect))) <= 1e-10 * float(np.max(np.abs(expect)))


# ---------------------------------------------------------------- ablation options [STU, App. C.1]
def _numpy_recurrence(layer, u):
    """y_k = Re(C x_k) + D u_k, x_k = λ x_{k-1} + γ B u_k from the raw fields (numpy, complex128 loop).

    λ and γ are rebuilt from the stored arrays by the option's own formula, not by the layer's properties.
    """
    if layer.eigenvalue_param == "exp":
        lam = np.exp(-np.exp(np.asarray(layer.nu_log)) + 1j * np.exp(np.asarray(layer.theta_log)))
    else:
        lam = np.asarray(layer.lam_re) + 1j * np.asarray(layer.lam_im)
    gamma = np.exp(np.asarray(layer.gamma_log)) if layer.gamma_norm else np.ones(lam.shape)
    b = gamma[:, None] * (np.asarray(layer.b_re) + 1j * np.asarray(layer.b_im))
    c = np.asarray(layer.c_re) + 1j * np.asarray(layer.c_im)
    u = np.asarray(u, np.float64)
    x, ys = np.zeros(lam.shape, np.complex128), []
    for u_k in u:
        x = lam * x + b @ u_k
        ys.append(np.real(c @ x) + np.asarray(layer.d) * u_k)
    return np.stack(ys)


_OPTIONS = [("exp", True), ("direct", True), ("exp", False), ("direct", False)]


@pytest.fixture(scope="module")
def ablation_variants():
    return {opt: LRU(state_size=5, d_model=3, r_min=0.5, r_max=0.99, eigenvalue_param=opt[0], gamma_norm=opt[1],
                     dtype=jnp.float64, key=jr.key(4)) for opt in _OPTIONS}


def test_default_options_are_the_lru(ablation_variants):
    default = LRU(state_size=5, d_model=3, r_min=0.5, r_max=0.99, dtype=jnp.float64, key=jr.key(4))
    assert (default.eigenvalue_param, default.gamma_norm) == ("exp", True)
    assert default.lam_re is None and default.lam_im is None and default.nu_log is not None
    same = ablation_variants[("exp", True)]
    for a, b in zip(jax.tree.leaves(default), jax.tree.leaves(same), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    u = np.random.default_rng(5).standard_normal((40, 3))
    np.testing.assert_allclose(np.asarray(default(jnp.asarray(u))), _numpy_recurrence(default, u), rtol=1e-11,
                               atol=1e-11)


@pytest.mark.parametrize("opt", _OPTIONS[1:])
def test_ablated_variants_match_a_numpy_recurrence(ablation_variants, opt):
    layer = ablation_variants[opt]
    u = np.random.default_rng(6).standard_normal((40, 3))
    ref = _numpy_recurrence(layer, u)
    for mode in ("recurrent", "convolution"):
        y = layer.with_mode(mode)(jnp.asarray(u))
        np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-10, atol=1e-10 * np.max(np.abs(ref)))
    # same key: the direct λ starts at the ring-initialised λ, and B, C, D are the default's
    base = ablation_variants[("exp", True)]
    np.testing.assert_allclose(np.asarray(layer.eigenvalues), np.asarray(base.eigenvalues), rtol=1e-14)
    np.testing.assert_array_equal(np.asarray(layer.b_re), np.asarray(base.b_re))
    assert (layer.gamma_log is None) == (not opt[1]) and (layer.nu_log is None) == (opt[0] == "direct")
    # stepping agrees with the sequence call
    state, ys = layer.init_state(), []
    for u_t in jnp.asarray(u):
        state, y_t = layer.step(state, u_t)
        ys.append(y_t)
    np.testing.assert_allclose(np.asarray(jnp.stack(ys)), ref, rtol=1e-10, atol=1e-10 * np.max(np.abs(ref)))


def test_direct_eigenvalues_are_trained_as_recurrent_parameters(ablation_variants):
    from ssmlab.train.optim import param_roles, trainable

    layer = ablation_variants[("direct", False)]
    roles = param_roles(layer)
    assert roles.lam_re == roles.lam_im == "recurrent"
    params, static = eqx.partition(layer, trainable(layer))
    u = jnp.asarray(np.random.default_rng(7).standard_normal((12, 3)))
    grads = jax.grad(lambda p: jnp.sum(eqx.combine(p, static)(u) ** 2))(params)
    assert float(jnp.max(jnp.abs(grads.lam_re))) > 0 and grads.nu_log is None and grads.gamma_log is None
    with pytest.raises(ValueError, match="eigenvalue_param"):
        LRU(state_size=2, d_model=2, eigenvalue_param="polar", key=jr.key(0))
    with pytest.raises(TypeError, match="gamma_norm"):
        LRU(state_size=2, d_model=2, gamma_norm="no", key=jr.key(0))
