"""Closed forms of [LDyn] checked three ways: Diffrax gradient flow, time-domain gradient descent, fixed point.

Gradient descent runs on the *periodic* time-domain model (`ssm_output(periodic=True)`), for which
Parseval and Y_k = H_k U_k are exact; τ = L/(2λ) maps steps to flow time.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from ssmlab.theory import learning_dynamics as ld

L = 64
A = 0.5


def _data(sign=1.0, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(L)
    y = sign * np.convolve(u, 0.8 * 0.6 ** np.arange(L))[:L] + 0.05 * rng.standard_normal(L)
    u, y = jnp.asarray(u), jnp.asarray(y)
    sig, eta = ld.bin_statistics(u, y)
    g = ld.resolvent(jnp.array([A]), length=L)[:, 0]
    s_g, e_g = ld.transfer_statistics(sig, eta, g)
    return u, y, sig, eta, float(s_g), float(e_g)


def _rel(x, y):
    return float(jnp.max(jnp.abs(jnp.asarray(x) - jnp.asarray(y))) / jnp.max(jnp.abs(jnp.asarray(y))))


def test_balanced_eq5_three_ways():
    u, y, sig, eta, s, e = _data()
    lam0 = 1e-3 * s / e
    lr = 0.04 * ld.max_stable_learning_rate("balanced_tied", n=1, sigma_g=s, eta_g=e, length=L)
    tau = ld.learning_rate_to_tau(lr, length=L)
    steps = 40 * int(0.05 * tau / s * np.log(s / (e * lam0)))
    ts = jnp.linspace(0.0, steps, 41)
    closed = ld.balanced_gain(ts, sigma=s, eta=e, gain0=lam0, tau=tau)
    one = jnp.array([np.sqrt(lam0)])
    _, b, c = ld.gradient_flow(jnp.array([A]), one, one, sig, eta, tau=tau, ts=ts, learn=("b", "c"))
    np.testing.assert_allclose((b * c)[:, 0], closed, rtol=1e-8)  # (1) ODE
    (_, bg, cg), _ = ld.time_domain_descent(jnp.array([A]), one, one, u, y, learning_rate=lr, steps=steps,
                                            record_every=steps // 40, learn=("b", "c"), method="fft")
    assert _rel((bg * cg)[:, 0], closed) < 0.03  # (2) GD on the time-domain model, τ = L/(2λ)
    np.testing.assert_allclose(closed[-1], s / e, rtol=1e-5)  # (3) fixed point σ/η, where the rates vanish
    root = jnp.array([np.sqrt(s / e)])
    rates = ld.flow_rates(jnp.array([A]), root, root, sig, eta, learn=("b", "c"))
    assert float(jnp.max(jnp.abs(rates[1]))) < 1e-9 * s


def test_balanced_time_constant_is_the_early_growth_rate():
    s, e, tau, lam0 = 3.0, 2.0, 5.0, 1e-9
    growth = jax.grad(lambda t: jnp.log(ld.balanced_gain(t, sigma=s, eta=e, gain0=lam0, tau=tau)))(0.0)
    np.testing.assert_allclose(1.0 / growth, ld.balanced_time_constant(sigma=s, tau=tau), rtol=1e-8)
    t_conv = ld.balanced_convergence_time(n=1, sigma=s, eta=e, gain0=lam0, tau=tau, tied=True)
    gap = (ld.balanced_gain(t_conv, sigma=s, eta=e, gain0=lam0, tau=tau) - s / e) ** 2 / (lam0 - s / e) ** 2
    np.testing.assert_allclose(gap, 0.01, rtol=1e-8)


@pytest.mark.parametrize("n", [pytest.param(1, marks=pytest.mark.slow), 4])
def test_tied_eq6_corrected_three_ways_and_printed_eq6_fails(n):
    u, y, sig, eta, s, e = _data()
    lam0 = 1e-3 * s / (n * e)
    lr = 0.04 * ld.max_stable_learning_rate("balanced_tied", n=n, sigma_g=s, eta_g=e, length=L)
    tau = ld.learning_rate_to_tau(lr, length=L)
    steps = 40 * int(0.05 * tau / (n * s) * np.log(s / (n * e * lam0)))
    ts = jnp.linspace(0.0, steps, 41)
    closed = ld.tied_gain(ts, n=n, sigma=s, eta=e, gain0=lam0, tau=tau)
    a, one = jnp.full(n, A), jnp.full(n, np.sqrt(lam0))
    _, b, c = ld.gradient_flow(a, one, one, sig, eta, tau=tau, ts=ts, learn=("b", "c"), tied=True)
    np.testing.assert_allclose((b * c)[:, 0], closed, rtol=1e-8)
    (_, bg, cg), _ = ld.time_domain_descent(a, one, one, u, y, learning_rate=lr, steps=steps, record_every=steps // 40,
                                            learn=("b", "c"), tied=True, method="fft")
    assert _rel((bg * cg)[:, 0], closed) < 0.03
    np.testing.assert_allclose(closed[-1], s / (n * e), rtol=1e-5)
    paper = ld.paper_eq6_gain(ts, n=n, sigma=s, eta=e, gain0=lam0, tau=tau)
    if n == 1:
        np.testing.assert_allclose(paper, closed, rtol=1e-10)
    else:  # wrong start and wrong limit (σ/η instead of σ/(Nη))
        assert _rel(paper, closed) > 0.5
        np.testing.assert_allclose(paper[-1], s / e, rtol=1e-3)


def test_untied_total_gain_follows_eq5_with_n_lambda0():
    u, y, sig, eta, s, e = _data()
    n, lam0 = 4, 1e-3 * s / e
    lr = 0.04 * ld.max_stable_learning_rate("balanced_untied", n=n, sigma_g=s, eta_g=e, length=L)
    tau = ld.learning_rate_to_tau(lr, length=L)
    steps = 40 * int(0.05 * tau / s * np.log(s / (n * e * lam0)))
    ts = jnp.linspace(0.0, steps, 41)
    closed = ld.untied_total_gain(ts, n=n, sigma=s, eta=e, gain0=lam0, tau=tau)
    a, one = jnp.full(n, A), jnp.full(n, np.sqrt(lam0))
    _, b, c = ld.gradient_flow(a, one, one, sig, eta, tau=tau, ts=ts, learn=("b", "c"))
    np.testing.assert_allclose(jnp.sum(b * c, axis=1), closed, rtol=1e-8)
    (_, bg, cg), _ = ld.time_domain_descent(a, one, one, u, y, learning_rate=lr, steps=steps,
                                            record_every=steps // 40, learn=("b", "c"), method="fft")
    assert _rel(jnp.sum(bg * cg, axis=1), closed) < 0.03
    np.testing.assert_allclose(closed[-1], s / e, rtol=1e-5)


@pytest.mark.parametrize("b0,c0,sign", [(0.05, 0.4, 1.0), pytest.param(-0.3, 0.5, 1.0, marks=pytest.mark.slow),
                                        pytest.param(2.0, 1.5, 1.0, marks=pytest.mark.slow),
                                        pytest.param(0.2, 0.7, -1.0, marks=pytest.mark.slow)])
def test_unbalanced_hyperbolic_solution_matches_the_flow(b0, c0, sign):
    u, y, sig, eta, s, e = _data(sign)
    tau = 1.0
    ts = jnp.linspace(0.0, 10.0 / abs(s), 41)
    scale = np.sqrt(abs(s) / e)
    b_init, c_init = jnp.array([b0 * scale]), jnp.array([c0 * scale])
    lam0, delta = float(b_init[0] * c_init[0]), float(c_init[0] ** 2 - b_init[0] ** 2)
    _, b, c = ld.gradient_flow(jnp.array([A]), b_init, c_init, sig, eta, tau=tau, ts=ts, learn=("b", "c"))
    lam = (b * c)[:, 0]
    closed = ld.unbalanced_gain(ts, sigma=s, eta=e, delta=delta, gain0=lam0, tau=tau)
    np.testing.assert_allclose(closed, lam, rtol=1e-8, atol=1e-10 * scale**2)
    t_back = ld.unbalanced_time(lam[1:20], sigma=s, eta=e, delta=delta, gain0=lam0, tau=tau)
    np.testing.assert_allclose(t_back, ts[1:20], rtol=1e-6)
    np.testing.assert_allclose(closed[-1], s / e, rtol=1e-3)  # fixed point σ/η
    # Conserved Δ = C^2 - B^2 along the flow.
    np.testing.assert_allclose(c[:, 0] ** 2 - b[:, 0] ** 2, delta, atol=1e-9 * scale**2)


def test_unbalanced_reduces_to_eq5_and_matches_gradient_descent():
    s, e, tau, lam0 = 2.0, 0.5, 1.0, 0.01
    ts = jnp.linspace(0.0, 3.0, 7)
    np.testing.assert_allclose(ld.unbalanced_gain(ts, sigma=s, eta=e, delta=1e-7, gain0=lam0, tau=tau),
                               ld.balanced_gain(ts, sigma=s, eta=e, gain0=lam0, tau=tau), rtol=1e-7)
    u, y, sig, eta, s, e = _data()
    lr = 0.04 * ld.max_stable_learning_rate("balanced_tied", n=1, sigma_g=s, eta_g=e, length=L)
    tau = ld.learning_rate_to_tau(lr, length=L)
    scale = np.sqrt(s / e)
    b0, c0 = jnp.array([0.02 * scale]), jnp.array([0.3 * scale])
    (_, bg, cg), _ = ld.time_domain_descent(jnp.array([A]), b0, c0, u, y, learning_rate=lr, steps=400,
                                            record_every=10, learn=("b", "c"))
    closed = ld.unbalanced_gain(jnp.arange(0, 401, 10.0), sigma=s, eta=e, delta=float(c0[0] ** 2 - b0[0] ** 2),
                                gain0=float(b0[0] * c0[0]), tau=tau)
    assert _rel((bg * cg)[:, 0], closed) < 0.03


def test_appendix_b_c_only_eqs_21_22_tied_and_untied():
    n, c0 = 4, 0.05
    u, y = jnp.ones(8), jnp.full(8, 1.7)  # DC bin only: σ = Y_0 U_0, η = U_0^2
    sig, eta = ld.bin_statistics(u, y)
    s, e = ld.summed_statistics(sig, eta)
    s, e = float(s), float(e)
    eta_g = e / (1 - A) ** 2
    lr = 0.05 * ld.max_stable_learning_rate("c_only_tied", n=n, sigma_g=s / (1 - A), eta_g=eta_g, length=8)
    tau = ld.learning_rate_to_tau(lr, length=8)
    ts = jnp.linspace(0.0, 200.0, 21)
    a, ones = jnp.full(n, A), jnp.ones(n)
    closed = ld.c_only_coefficient(ts, n=n, a=A, sigma=s, eta=e, c0=c0, tau=tau)
    _, _, c = ld.gradient_flow(a, ones, jnp.full(n, c0), sig, eta, tau=tau, ts=ts, learn=("c",), tied=True)
    np.testing.assert_allclose(c[:, 0], closed, rtol=1e-9)
    np.testing.assert_allclose(ld.c_only_time(closed[1:], n=n, a=A, sigma=s, eta=e, c0=c0, tau=tau), ts[1:],
                               rtol=1e-8)
    (_, _, cg), _ = ld.time_domain_descent(a, ones, jnp.full(n, c0), u, y, learning_rate=lr, steps=200,
                                           record_every=10, learn=("c",), tied=True, method="fft")
    assert _rel(cg[:, 0], closed) < 0.05
    c_star = (1 - A) * s / (n * e)
    np.testing.assert_allclose(ld.c_only_coefficient(1e6, n=n, a=A, sigma=s, eta=e, c0=c0, tau=tau), c_star)
    np.testing.assert_allclose(ld.flow_rates(a, ones, jnp.full(n, c_star), sig, eta, learn=("c",))[2], 0, atol=1e-9)


@pytest.mark.slow
def test_appendix_b_untied_c_sum_relaxes_n_times_slower():
    """Untied c_i from unequal starts: the sum relaxes at rate Nη/(τ(1-a)^2), N times slower than tied c."""
    n, tau = 4, 10.0
    u, y = jnp.ones(8), jnp.full(8, 1.7)
    sig, eta = ld.bin_statistics(u, y)
    s, e = (float(v) for v in ld.summed_statistics(sig, eta))
    ts = jnp.linspace(0.0, 0.01, 21)
    a, ones = jnp.full(n, A), jnp.ones(n)
    c_init = jnp.linspace(-0.1, 0.2, n)
    _, _, cu = ld.gradient_flow(a, ones, c_init, sig, eta, tau=tau, ts=ts, learn=("c",))
    want = ld.c_only_untied_sum(ts, n=n, a=A, sigma=s, eta=e, sum0=float(jnp.sum(c_init)), tau=tau)
    np.testing.assert_allclose(jnp.sum(cu, axis=1), want, rtol=1e-9)
    ratio = ld.c_only_time_constant(n=n, a=A, eta=e, tau=tau, tied=False) / ld.c_only_time_constant(
        n=n, a=A, eta=e, tau=tau)
    np.testing.assert_allclose(ratio, n)


@pytest.mark.slow
def test_appendix_b_general_bins_use_transfer_statistics():
    u, y, sig, eta, s_g, e_g = _data()
    n, c0 = 3, 0.0
    tau = ld.learning_rate_to_tau(0.05 * ld.max_stable_learning_rate("c_only_tied", n=n, sigma_g=s_g, eta_g=e_g,
                                                                     length=L), length=L)
    ts = jnp.linspace(0.0, 100.0, 11)
    _, _, c = ld.gradient_flow(jnp.full(n, A), jnp.ones(n), jnp.full(n, c0), sig, eta, tau=tau, ts=ts, learn=("c",),
                               tied=True)
    closed = ld.c_only_coefficient(ts, n=n, a=A, sigma=(1 - A) * s_g, eta=(1 - A) ** 2 * e_g, c0=c0, tau=tau)
    np.testing.assert_allclose(c[:, 0], closed, rtol=1e-9, atol=1e-14)


def test_appendix_b_eq23_learning_a():
    n, c, s, e, tau = 4, 0.3, 2.0, 0.5, 1.0
    t_spec = ld.a_only_time(0.5, n=n, c=c, sigma=s, eta=e, a0=0.1, tau=tau)
    np.testing.assert_allclose(t_spec, 0.146248, atol=2e-6)  # spec's value
    rhs = lambda a: (n * c / (1 - a) ** 2) * (s - n * c * e / (1 - a)) / tau  # noqa: E731  eq. (20)
    np.testing.assert_allclose(t_spec, quad(lambda a: 1 / rhs(a), 0.1, 0.5, epsabs=1e-13)[0], rtol=1e-9)
    # Flow on one DC bin with σ = 2, η = 0.5 (L = 1), tied a learned, b = 1, c fixed.
    u, y = jnp.array([np.sqrt(e)]), jnp.array([s / np.sqrt(e)])
    sig, eta = ld.bin_statistics(u, y)
    ts = jnp.linspace(0.0, 0.4, 9)
    a_t, _, _ = ld.gradient_flow(jnp.full(n, 0.1), jnp.ones(n), jnp.full(n, c), sig, eta, tau=tau, ts=ts,
                                 learn=("a",), tied=True)
    # Compare before a(t) gets close to a*, where t(a) is ill-conditioned (dt/da -> infinity).
    np.testing.assert_allclose(ld.a_only_time(a_t[1:5, 0], n=n, c=c, sigma=s, eta=e, a0=0.1, tau=tau), ts[1:5],
                               rtol=1e-8)
    a_star = 1 - n * c * e / s  # fixed point: Nc/(1-a*) = σ/η, where the rate of eq. (20) vanishes
    assert abs(float(a_t[-1, 0]) - a_star) < 1e-2
    rate = ld.flow_rates(jnp.full(n, a_star), jnp.ones(n), jnp.full(n, c), sig, eta, learn=("a",), tied=True)[0]
    np.testing.assert_allclose(rate, 0.0, atol=1e-12)


@pytest.mark.parametrize("kind", ["c_only_tied", pytest.param("c_only_untied", marks=pytest.mark.slow),
                                  pytest.param("balanced_tied", marks=pytest.mark.slow),
                                  pytest.param("balanced_untied", marks=pytest.mark.slow)])
def test_max_stable_learning_rate_is_the_divergence_threshold(kind):
    u, y, sig, eta, s, e = _data()
    n = 3
    lr_max = ld.max_stable_learning_rate(kind, n=n, sigma_g=s, eta_g=e, length=L)
    tied = kind.endswith("_tied")
    learn = ("c",) if kind.startswith("c_only") else ("b", "c")
    per_dim = s / e / n  # per-dimension gain at the minimum, P* = σ_G/η_G
    root = np.sqrt(per_dim) if learn == ("b", "c") else per_dim
    b0 = jnp.full(n, root if learn == ("b", "c") else 1.0)
    c0 = jnp.full(n, root * 1.01)
    def losses(lr):
        return ld.time_domain_descent(jnp.full(n, A), b0, c0, u, y, learning_rate=lr, steps=100, record_every=100,
                                      learn=learn, tied=tied, method="fft")[1]

    below, above = jax.vmap(losses)(jnp.array([0.95, 1.05]) * lr_max)  # one compiled run for both rates
    out = {0.95: below, 1.05: above}
    floor = float(ld.time_loss(y, ld.ssm_output(jnp.full(n, A), jnp.full(n, np.sqrt(per_dim)),
                                                jnp.full(n, np.sqrt(per_dim)), u, method="fft")))
    assert float(out[0.95][-1] - floor) < float(out[0.95][0] - floor)
    assert float(out[1.05][-1] - floor) > 10 * float(out[1.05][0] - floor)


def test_closed_forms_reject_bad_arguments():
    with pytest.raises(ValueError, match="eta"):
        ld.balanced_gain(1.0, sigma=1.0, eta=0.0, gain0=0.1, tau=1.0)
    with pytest.raises(ValueError, match="tau"):
        ld.tied_gain(1.0, n=2, sigma=1.0, eta=1.0, gain0=0.1, tau=-1.0)
    with pytest.raises(ValueError, match="sigma"):
        ld.balanced_gain(1.0, sigma=0.0, eta=1.0, gain0=0.1, tau=1.0)
    with pytest.raises(ValueError, match="gain0"):
        ld.unbalanced_gain(1.0, sigma=1.0, eta=1.0, delta=0.0, gain0=-0.1, tau=1.0)
    with pytest.raises(ValueError, match="kind"):
        ld.max_stable_learning_rate("deep", n=1, sigma_g=1.0, eta_g=1.0, length=4)
    with pytest.raises(ValueError, match="n "):
        ld.c_only_coefficient(1.0, n=0, a=0.5, sigma=1.0, eta=1.0, c0=0.0, tau=1.0)


def test_appendix_b_eq23_against_gradient_descent():
    """GD on the time-domain model (L = 1 DC sequence, periodic) learning tied a: t(a_s) from eq. (23) ≈ s/τ."""
    n, c, s, e = 4, 0.3, 2.0, 0.5
    u, y = jnp.array([np.sqrt(e)]), jnp.array([s / np.sqrt(e)])
    lr = 2e-4
    tau = ld.learning_rate_to_tau(lr, length=1)
    (a_gd, _, _), _ = ld.time_domain_descent(jnp.full(n, 0.1), jnp.ones(n), jnp.full(n, c), u, y, learning_rate=lr,
                                             steps=500, record_every=50, learn=("a",), tied=True)
    t_pred = ld.a_only_time(a_gd[1:, 0], n=n, c=c, sigma=s, eta=e, a0=0.1, tau=tau)
    np.testing.assert_allclose(t_pred, np.arange(50, 501, 50.0), rtol=0.01)
