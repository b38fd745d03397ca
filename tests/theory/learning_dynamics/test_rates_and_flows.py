"""Frequency-domain statistics, Parseval, exact gradients and gradient flow of linear SSMs [LDyn]."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.theory import learning_dynamics as ld


def _data(length=64, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(length)
    # Target from a teacher SSM, computed by an explicit periodic convolution (independent of the library).
    a_t, b_t, c_t = np.array([0.6, -0.3]), np.array([1.0, 0.5]), np.array([0.8, 1.2])
    t = np.arange(length)
    kern = (c_t * b_t * a_t[None, :] ** t[:, None] / (1 - a_t**length)).sum(1)
    y = np.array([sum(kern[s] * u[(i - s) % length] for s in range(length)) for i in range(length)])
    return jnp.asarray(u), jnp.asarray(y + 0.1 * rng.standard_normal(length))


def _params(k, n, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-0.7, 0.7, (k, n))
    b = rng.normal(0, 0.6, (k, n))
    c = rng.normal(0, 0.6, (k, n))
    return jnp.asarray(a), jnp.asarray(b), jnp.asarray(c)


def test_dft_and_statistics_match_explicit_sums():
    u, y = _data(16)
    t = np.arange(16)
    mat = np.exp(-2j * np.pi * np.outer(t, t) / 16)
    np.testing.assert_allclose(ld.dft(u), mat @ np.asarray(u), rtol=1e-12, atol=1e-12)
    sig, eta = ld.bin_statistics(u, y)
    np.testing.assert_allclose(sig, (mat @ np.asarray(y)) * np.conj(mat @ np.asarray(u)), rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(eta, np.abs(mat @ np.asarray(u)) ** 2, rtol=1e-12)
    # Full-spectrum sums of real signals are real: the imaginary part cancels between conjugate bins.
    assert abs(float(jnp.imag(jnp.sum(sig)))) < 1e-10 * float(jnp.sum(jnp.abs(sig)))
    g = ld.resolvent(jnp.array([0.4]), length=16)[:, 0]
    assert abs(float(jnp.imag(jnp.sum(sig * jnp.conj(g))))) < 1e-10 * float(jnp.sum(jnp.abs(sig)))
    s_g, e_g = ld.transfer_statistics(sig, eta, g)
    np.testing.assert_allclose(s_g, np.real(np.sum(np.asarray(sig) / (1 - np.exp(2j * np.pi * t / 16) * 0.4))))
    np.testing.assert_allclose(e_g, np.sum(np.asarray(eta) / np.abs(1 - np.exp(-2j * np.pi * t / 16) * 0.4) ** 2))


@pytest.mark.parametrize("depth", [1, 3])
def test_parseval_time_loss_equals_frequency_loss_over_length(depth):
    u, y = _data(48)
    a, b, c = _params(depth, 3)
    for method in ("recurrence", "fft"):
        y_model = ld.stacked_output(a, b, c, u, periodic=True, method=method)
        lt = ld.time_loss(y, y_model)
        lf = ld.frequency_loss(a, b, c, ld.dft(u), ld.dft(y))
        np.testing.assert_allclose(lt, lf * ld.parseval_factor(length=48), rtol=1e-11)


def test_time_domain_evaluations_agree_and_causal_needs_a_quiet_tail():
    rng = np.random.default_rng(3)
    a, b, c = jnp.array([0.9, -0.5, 0.2]), jnp.array([1.0, 0.3, -0.7]), jnp.array([0.5, 1.1, 0.9])
    u = jnp.asarray(rng.standard_normal(512))
    for periodic in (True, False):
        rec = ld.ssm_output(a, b, c, u, periodic=periodic, method="recurrence")
        fft = ld.ssm_output(a, b, c, u, periodic=periodic, method="fft")
        np.testing.assert_allclose(rec, fft, rtol=1e-10, atol=1e-10)
    # max|a|^L = 0.9^512 ~ 4e-24, yet causal != periodic: the transient c a^{t+1} x_p depends on x_{L-1}.
    gap = jnp.max(jnp.abs(ld.ssm_output(a, b, c, u) - ld.ssm_output(a, b, c, u, periodic=False)))
    assert gap > 1e-2
    # With a quiet tail (|a|^m <= 1e-20 for m = 440 zeros) the two agree to round-off.
    u_pad = u.at[72:].set(0.0)
    np.testing.assert_allclose(ld.ssm_output(a, b, c, u_pad), ld.ssm_output(a, b, c, u_pad, periodic=False),
                               atol=1e-15)


def test_response_derivative_in_a_is_not_the_paper_eq31():
    # Spec value: L = 16, k = 3, a = 0.7, b = 0.9, c = 1.3 -> dH/da = -1.0662 - 0.6054i (central differences).
    args = dict(length=16)
    h = 1e-6
    fd = (ld.layer_responses(jnp.array([0.7 + h]), jnp.array([0.9]), jnp.array([1.3]), **args)
          - ld.layer_responses(jnp.array([0.7 - h]), jnp.array([0.9]), jnp.array([1.3]), **args))[0, 3] / (2 * h)
    da = ld.response_derivatives(jnp.array([0.7]), jnp.array([0.9]), jnp.array([1.3]), **args)[0][0, 3, 0]
    np.testing.assert_allclose(da, fd, rtol=1e-8)
    np.testing.assert_allclose(da, -1.0662 - 0.6054j, atol=1e-4)
    w = 2 * np.pi * 3 / 16
    paper31 = 1.3 * 0.9 * (np.cos(w) - 1j * np.sin(w)) / (0.7 - np.cos(w) + 1j * np.sin(w)) ** 2
    np.testing.assert_allclose(paper31, np.conj(da), rtol=1e-12)  # the printed (31) is the conjugate


@pytest.mark.parametrize("depth", [pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow),
                                   pytest.param(3, marks=pytest.mark.slow), 4])
def test_flow_rates_equal_minus_half_autodiff_gradient(depth):
    u, y = _data(32)
    a, b, c = _params(depth, 3, seed=depth)
    sig, eta = ld.bin_statistics(u, y)
    u_hat, y_hat = ld.dft(u), ld.dft(y)
    grads = jax.jit(jax.grad(lambda p: ld.frequency_loss(*p, u_hat, y_hat)))((a, b, c))
    # The same gradient through the time-domain (periodic) model, times L by Parseval.
    method = "recurrence" if depth <= 2 else "fft"
    tgrads = jax.jit(jax.grad(lambda p: ld.time_loss(y, ld.stacked_output(*p, u, method=method))))((a, b, c))
    for learn in (("a", "b", "c"), ("b", "c"), ("a",)):
        rates = ld.flow_rates(a, b, c, sig, eta, learn=learn)
        for name, r, g, tg in zip("abc", rates, grads, tgrads, strict=True):
            want = -0.5 * g if name in learn else jnp.zeros_like(g)
            scale = float(jnp.max(jnp.abs(g)))
            np.testing.assert_allclose(r, want, atol=1e-10 * scale, rtol=0)
            if name in learn:
                np.testing.assert_allclose(r, -0.5 * 32 * tg, atol=1e-10 * scale, rtol=0)


def test_single_layer_rates_match_eqs_32_to_35_written_out():
    u, y = _data(24)
    a, b, c = (v[0] for v in _params(1, 2, seed=5))
    sig, eta = ld.bin_statistics(u, y)
    z = np.exp(-2j * np.pi * np.arange(24) / 24)[:, None]
    g = 1 / (1 - z * np.asarray(a)[None, :])
    hk = (g * np.asarray(c * b)[None, :]).sum(1)
    res = (np.asarray(sig) - hk * np.asarray(eta))[:, None]
    want = [np.real((res * np.conj(np.asarray(c * b) * z * g**2)).sum(0)),
            np.real((res * np.conj(np.asarray(c) * g)).sum(0)), np.real((res * np.conj(g * np.asarray(b))).sum(0))]
    for r, w in zip(ld.flow_rates(a, b, c, sig, eta), want, strict=True):
        assert r.shape == (2,)
        np.testing.assert_allclose(r, w, rtol=1e-11, atol=1e-11)


def test_tied_rates_equal_gradient_of_shared_scalar():
    u, y = _data(32)
    sig, eta = ld.bin_statistics(u, y)
    n = 5
    u_hat, y_hat = ld.dft(u), ld.dft(y)

    def loss(s):
        return ld.frequency_loss(*jnp.broadcast_to(s[:, :, None], (3, 2, n)), u_hat, y_hat)

    s = jnp.array([[0.3, 0.5, 0.4], [-0.2, 0.6, 0.7]]).T  # [3 params, 2 layers]
    grad = jax.grad(loss)(s)
    rates = ld.flow_rates(*jnp.broadcast_to(s[:, :, None], (3, 2, n)), sig, eta, tied=True)
    for i in range(3):
        np.testing.assert_allclose(rates[i], jnp.broadcast_to(-0.5 * grad[i][:, None], (2, n)), rtol=1e-10)


def test_bad_inputs_raise_clear_errors():
    a, b, c = _params(1, 3)
    sig, eta = ld.bin_statistics(*_data(8))
    with pytest.raises(ValueError, match="learn"):
        ld.flow_rates(a, b, c, sig, eta, learn=("a", "d"))
    with pytest.raises(ValueError, match="same shape"):
        ld.flow_rates(a, b[:, :2], c, sig, eta)
    with pytest.raises(ValueError, match="stable"):
        ld.layer_responses(a.at[0, 0].set(1.2), b, c, length=8)
    with pytest.raises(ValueError, match="same length"):
        ld.bin_statistics(jnp.ones(4), jnp.ones(5))
    with pytest.raises(ValueError, match="learning_rate"):
        ld.learning_rate_to_tau(0.0, length=8)
    with pytest.raises(ValueError, match="method"):
        ld.ssm_output(a[0], b[0], c[0], jnp.ones(8), method="scan")
    with pytest.raises(ValueError, match="record_every"):
        ld.gradient_descent(lambda p: jnp.sum(p**2), jnp.ones(2), learning_rate=0.1, steps=10, record_every=3)
    with pytest.raises(ValueError, match="ts"):
        ld.gradient_flow(a, b, c, sig, eta, tau=1.0, ts=jnp.array([1.0, 0.5]))
    with pytest.raises(ValueError, match="tied"):
        ld.make_time_loss(a, b, c, jnp.ones(8), jnp.ones(8), tied=True)


@pytest.mark.slow
def test_gradient_descent_on_time_domain_model_converges_to_the_flow():
    """GD (periodic time-domain model) with step λ tracks τ dθ/dt = R_θ, τ = L/(2λ); the gap shrinks ∝ λ (Euler)."""
    u, y = _data(32)
    sig, eta = ld.bin_statistics(u, y)
    a, b, c = _params(2, 2, seed=7)
    b, c = 0.5 * b, 0.5 * c
    t_end = 0.25  # in units of τ
    flow = ld.gradient_flow(a, b, c, sig, eta, tau=1.0, ts=jnp.array([t_end]))
    errs = []
    for lr in (2e-3, 1e-3):
        tau = ld.learning_rate_to_tau(lr, length=32)
        steps = int(round(t_end * tau))
        gd, _ = ld.time_domain_descent(a, b, c, u, y, learning_rate=lr, steps=steps, record_every=steps, method="fft")
        errs.append(max(float(jnp.max(jnp.abs(g[-1] - f[-1]))) for g, f in zip(gd, flow, strict=True)))
    assert errs[1] < 1e-2
    np.testing.assert_allclose(errs[0] / errs[1], 2.0, rtol=0.1)  # first-order in λ


@pytest.mark.slow
def test_flow_stays_at_its_fixed_point():
    """At the least-squares gain (b, c frozen except c) the rates vanish and the ODE does not move."""
    u, y = _data(32)
    sig, eta = ld.bin_statistics(u, y)
    a, b = jnp.array([0.5]), jnp.array([1.0])
    g = ld.resolvent(a, length=32)[:, 0]
    s_g, e_g = ld.transfer_statistics(sig, eta, g)
    c_star = jnp.array([s_g / e_g])
    np.testing.assert_allclose(ld.flow_rates(a, b, c_star, sig, eta, learn=("c",))[2], 0.0, atol=1e-10)
    out = ld.gradient_flow(a, b, c_star, sig, eta, tau=1.0, ts=jnp.array([0.0, 5.0]), learn=("c",))
    np.testing.assert_allclose(out[2][-1], c_star, rtol=1e-10)


def test_float32_rates_are_honest_to_single_precision():
    """Without x64 the same code runs in float32/complex64; its rates agree with float64 to ~1e-5."""
    u, y = _data(32)
    a, b, c = _params(2, 3, seed=11)
    ref = ld.flow_rates(a, b, c, *ld.bin_statistics(u, y))
    with jax.enable_x64(False):
        u32, y32 = jnp.asarray(np.asarray(u), jnp.float32), jnp.asarray(np.asarray(y), jnp.float32)
        p32 = [jnp.asarray(np.asarray(v), jnp.float32) for v in (a, b, c)]
        rates = ld.flow_rates(*p32, *ld.bin_statistics(u32, y32))
        assert all(r.dtype == jnp.float32 for r in rates)
    for r, r64 in zip(rates, ref, strict=True):
        err = float(np.max(np.abs(np.asarray(r, np.float64) - np.asarray(r64))) / np.max(np.abs(np.asarray(r64))))
        assert err < 1e-4
