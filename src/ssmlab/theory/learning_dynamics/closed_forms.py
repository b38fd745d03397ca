r"""Closed-form learning curves of one-layer linear SSMs under gradient flow [LDyn, Sec. 3-4, App. B].

Notation: σ, η are the statistics of the relevant section (`transfer_statistics` for a fixed
a over all bins; `summed_statistics` on the DC bin for Appendix B), τ the time constant
(τ = L/(2λ) for gradient descent with step λ on Σ_t (y-ŷ)^2), Λ = c·b the gain of one latent
dimension, P the total gain of the layer (H_k = P g_k).

Corrections to the paper shipped here (see docs/theory/learning-dynamics.md):

* eq. (6) (N dims, symmetric init) is wrong: neither Λ(0) = Λ_0 nor the fixed point σ/(Nη) holds.
  For tied parameters (one shared b, c) the solution is `tied_gain`; for untied parameters
  initialised equal, the total gain follows eq. (5) with P_0 = NΛ_0 (`untied_total_gain`).
* The C ≠ B case has the implicit solution `unbalanced_time`, valid in every sign case when the
  logarithm is written with |σ - ηΛ| (the paper only points to Saxe et al.).
* Appendix B (eqs. (21), (22), (23)) is right for tied c; untied c relax N times slower.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array

from ...core.checks import is_concrete


def _require(name: str, value, ok, fix: str) -> None:
    """Raise ValueError naming `name` when a concrete `value` fails the predicate `ok`."""
    if is_concrete(value) and not bool(np.all(ok(np.asarray(value)))):
        raise ValueError(f"{name} {fix}; got {value!r}.")


def _common(*, sigma, eta, tau) -> None:
    _require("eta", eta, lambda x: x > 0, "must be > 0 (the input power η)")
    _require("tau", tau, lambda x: x > 0, "must be > 0 (τ = L/(2λ))")
    _require("sigma", sigma, lambda x: x != 0, "must be non-zero (σ = 0: nothing to learn)")


def balanced_gain(t, *, sigma, eta, gain0, tau) -> Array:
    """Λ(t) = (σ/η) e^{2σt/τ} / (e^{2σt/τ} - 1 + σ/(ηΛ_0)) for C = B, N = 1 [LDyn, eq. (5)].

    Solves τ dΛ/dt = 2Λ(σ - ηΛ); evaluated as (σ/η)/(1 + (σ/(ηΛ_0) - 1) e^{-2σt/τ}) to avoid overflow.
    """
    _common(sigma=sigma, eta=eta, tau=tau)
    _require("gain0", gain0, lambda x: x != 0, "must be non-zero (Λ_0 = 0 is a fixed point)")
    t = jnp.asarray(t)
    return (sigma / eta) / (1.0 + (sigma / (eta * gain0) - 1.0) * jnp.exp(-2.0 * sigma * t / tau))


def tied_gain(t, *, n: int, sigma, eta, gain0, tau) -> Array:
    """Λ(t) = (σ/η) e^{rt} / (N e^{rt} - N + σ/(ηΛ_0)), r = 2Nσ/τ [LDyn, eq. (6), corrected].

    Tied symmetric init A = aI, B = b1, C = c1, b = c: τ dΛ/dt = 2NΛ(σ - NηΛ); Λ → σ/(Nη).
    """
    _require("n", n, lambda x: x >= 1, "must be a positive latent size N")
    _common(sigma=sigma, eta=eta, tau=tau)
    _require("gain0", gain0, lambda x: x != 0, "must be non-zero (Λ_0 = 0 is a fixed point)")
    r = 2.0 * n * sigma / tau
    return (sigma / (n * eta)) / (1.0 + (sigma / (n * eta * gain0) - 1.0) * jnp.exp(-r * jnp.asarray(t)))


def paper_eq6_gain(t, *, n: int, sigma, eta, gain0, tau) -> Array:
    """Eq. (6) exactly as printed, (σ/η) e^{rt}/(e^{rt} - N + σ/(ηΛ_0)): kept only to show it is wrong [LDyn]."""
    e = jnp.exp(2.0 * n * sigma * jnp.asarray(t) / tau)
    return (sigma / eta) * e / (e - n + sigma / (eta * gain0))


def untied_total_gain(t, *, n: int, sigma, eta, gain0, tau) -> Array:
    """Total gain P = Σ_i c_i b_i for untied b_i = c_i = sqrt(Λ_0): eq. (5) with P_0 = NΛ_0 [LDyn, eq. (5)]."""
    _require("n", n, lambda x: x >= 1, "must be a positive latent size N")
    return balanced_gain(t, sigma=sigma, eta=eta, gain0=n * gain0, tau=tau)


def _hyperbolic_potential(x, *, sigma, eta, delta):
    """F(x) = log(q(x)/|σ - ηx|)/R with q = 4σx + ηΔ^2 + R sqrt(4x^2 + Δ^2), R = sqrt(4σ^2 + η^2Δ^2)."""
    r = jnp.sqrt(4.0 * sigma**2 + eta**2 * delta**2)
    q = 4.0 * sigma * x + eta * delta**2 + r * jnp.sqrt(4.0 * x**2 + delta**2)
    return jnp.log(q / jnp.abs(sigma - eta * x)) / r


def _check_unbalanced(*, sigma, eta, delta, gain0, tau) -> None:
    _common(sigma=sigma, eta=eta, tau=tau)
    if is_concrete(delta) and is_concrete(gain0) and is_concrete(sigma) and float(delta) == 0.0:
        _require("gain0", gain0 * sigma, lambda x: x > 0,
                 "must have the sign of sigma when delta = 0 (Λ_0σ <= 0 never reaches σ/η); pass delta != 0")


def unbalanced_time(gain, *, sigma, eta, delta, gain0, tau) -> Array:
    """t(Λ) = τ [F(Λ) - F(Λ_0)] for C ≠ B, N = 1, Δ = C_0^2 - B_0^2 (Saxe-style hyperbolic coordinates).

    τ dΛ/dt = (σ - ηΛ) sqrt(4Λ^2 + Δ^2) because (B^2 + C^2)^2 = Δ^2 + 4Λ^2 [LDyn, Sec. 3, derived here].
    F as in `_hyperbolic_potential`; one formula for every sign of σ and of σ - ηΛ_0. Reduces to the
    inverse of eq. (5) as Δ → 0.
    """
    _check_unbalanced(sigma=sigma, eta=eta, delta=delta, gain0=gain0, tau=tau)
    pot = _hyperbolic_potential(jnp.asarray(gain), sigma=sigma, eta=eta, delta=delta)
    return tau * (pot - _hyperbolic_potential(jnp.asarray(gain0), sigma=sigma, eta=eta, delta=delta))


def unbalanced_gain(t, *, sigma, eta, delta, gain0, tau, iterations: int = 110) -> Array:
    """Λ(t) for C ≠ B: inverse of `unbalanced_time` by bisection between Λ_0 and σ/η (vectorised over t)."""
    _check_unbalanced(sigma=sigma, eta=eta, delta=delta, gain0=gain0, tau=tau)
    _require("t", t, lambda x: x >= 0, "must be >= 0")
    t = jnp.asarray(t)
    target = sigma / eta

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        before = unbalanced_time(gain0 + mid * (target - gain0), sigma=sigma, eta=eta, delta=delta, gain0=gain0,
                                 tau=tau) < t
        return jnp.where(before, mid, lo), jnp.where(before, hi, mid)

    lo, hi = lax.fori_loop(0, iterations, body, (jnp.zeros_like(t), jnp.ones_like(t)))
    return gain0 + 0.5 * (lo + hi) * (target - gain0)


def c_only_coefficient(t, *, n: int, a, sigma, eta, c0, tau) -> Array:
    """c(t) = [e^{-κt}((a-1)σ + Nc_0η) - (a-1)σ]/(Nη), κ = N^2η/(τ(1-a)^2) [LDyn, eq. (22)].

    A = aI, B = 1 fixed, tied c learned on the DC bin (σ, η from `summed_statistics`). For any
    set of bins, replace σ → (1-a) Re Σ σ_k g_k^*, η → (1-a)^2 Σ η_k |g_k|^2 (`transfer_statistics`).
    """
    _require("n", n, lambda x: x >= 1, "must be a positive latent size N")
    _common(sigma=sigma, eta=eta, tau=tau)
    kappa = n**2 * eta / (tau * (1.0 - a) ** 2)
    return (jnp.exp(-kappa * jnp.asarray(t)) * ((a - 1.0) * sigma + n * c0 * eta) - (a - 1.0) * sigma) / (n * eta)


def c_only_time(c_final, *, n: int, a, sigma, eta, c0, tau) -> Array:
    """t = -τ(1-a)^2/(N^2η) log(((a-1)σ + Nc_fη)/((a-1)σ + Nc_0η)) [LDyn, eq. (21)]."""
    _require("n", n, lambda x: x >= 1, "must be a positive latent size N")
    _common(sigma=sigma, eta=eta, tau=tau)
    ratio = ((a - 1.0) * sigma + n * jnp.asarray(c_final) * eta) / ((a - 1.0) * sigma + n * c0 * eta)
    return -tau * (1.0 - a) ** 2 / (n**2 * eta) * jnp.log(ratio)


def c_only_untied_sum(t, *, n: int, a, sigma, eta, sum0, tau) -> Array:
    """S(t) = S* + (S_0 - S*) e^{-Nηt/(τ(1-a)^2)}, S = Σ_i c_i, S* = (1-a)σ/η: untied c [LDyn, App. B, derived here]."""
    _require("n", n, lambda x: x >= 1, "must be a positive latent size N")
    _common(sigma=sigma, eta=eta, tau=tau)
    s_star = (1.0 - a) * sigma / eta
    return s_star + (sum0 - s_star) * jnp.exp(-n * eta * jnp.asarray(t) / (tau * (1.0 - a) ** 2))


def a_only_time(a_final, *, n: int, c, sigma, eta, a0, tau) -> Array:
    """Time for a: a_0 → a_f with B = 1, tied c fixed, DC bin [LDyn, eq. (23)], integral of eq. (20)."""
    _require("n", n, lambda x: x >= 1, "must be a positive latent size N")
    _common(sigma=sigma, eta=eta, tau=tau)
    _require("c", c, lambda x: x != 0, "must be non-zero (a does not move when c = 0)")
    af, nce = jnp.asarray(a_final), n * c * eta

    def poly(x):
        return (x - 1.0) * (-3.0 * (x - 1.0) * nce * sigma + 2.0 * (x - 1.0) ** 2 * sigma**2 + 6.0 * nce**2)

    log_term = 6.0 * nce**3 * jnp.log(((a0 - 1.0) * sigma + nce) / ((af - 1.0) * sigma + nce))
    return tau / (6.0 * n * c * sigma**4) * (log_term + sigma * (poly(af) - poly(a0)))


def balanced_time_constant(*, sigma, tau, n: int = 1, tied: bool = True) -> Array:
    """τ/(2Nσ) (tied) or τ/(2σ) (untied, for the total gain) [LDyn, eqs. (5), (6) corrected]."""
    _require("sigma", sigma, lambda x: x > 0, "must be > 0")
    return jnp.asarray(tau / (2.0 * (n if tied else 1) * sigma))


def c_only_time_constant(*, n: int, a, eta, tau, tied: bool = True) -> Array:
    """τ(1-a)^2/(N^2η) (tied c) or τ(1-a)^2/(Nη) (untied c) [LDyn, eq. (22); untied derived here]."""
    _require("eta", eta, lambda x: x > 0, "must be > 0")
    return jnp.asarray(tau * (1.0 - a) ** 2 / ((n**2 if tied else n) * eta))


def balanced_convergence_time(*, n: int, sigma, eta, gain0, tau, tied: bool, gap: float = 0.01) -> Array:
    """First t with loss gap <= `gap` × initial gap, balanced init: log(1 + (1/√gap - 1) P*/P_0)/r.

    The loss is quadratic in the total gain P (gap ∝ (P - P*)^2), P* = σ/η, P_0 = NΛ_0, and
    r = 2Nσ/τ (tied) or 2σ/τ (untied), from `tied_gain` / `untied_total_gain`. Needs 0 < P_0 < P*.
    """
    _require("gap", gap, lambda x: (x > 0) & (x < 1), "must be in (0, 1)")
    rate = 2.0 * (n if tied else 1) * sigma / tau
    return jnp.log1p((1.0 / np.sqrt(gap) - 1.0) * (sigma / eta) / (n * gain0)) / rate


def c_only_convergence_time(*, n: int, eta_g, tau, tied: bool, gap: float = 0.01) -> Array:
    """First t with loss gap <= `gap` × initial gap, learning c only: log(1/gap)/(2κ), κ = N^{2 or 1} η_G/τ.

    η_G = Σ_k η_k |g_k|^2 (`transfer_statistics`); equals eqs. (21)-(22) with η = (1-a)^2 η_G.
    """
    _require("gap", gap, lambda x: (x > 0) & (x < 1), "must be in (0, 1)")
    kappa = (n**2 if tied else n) * eta_g / tau
    return jnp.asarray(np.log(1.0 / gap) / (2.0 * kappa))


_CURVATURE = {
    "balanced_tied": lambda n, s, e: 4.0 * n * s,
    "balanced_untied": lambda n, s, e: 4.0 * s,
    "c_only_tied": lambda n, s, e: 2.0 * n**2 * e,
    "c_only_untied": lambda n, s, e: 2.0 * n * e,
}


def max_stable_learning_rate(kind: str, *, n: int, sigma_g, eta_g, length: int) -> float:
    """λ_max = 2/h, h = top Hessian eigenvalue of Σ_t (y-ŷ)^2 at the minimum (= L_freq Hessian / L).

    h·L = 4Nσ_G (balanced tied), 4σ_G (balanced untied), 2N^2η_G (c only, tied), 2Nη_G (c only,
    untied), with σ_G, η_G from `transfer_statistics` [derived here from LDyn eqs. (4), (19)].
    """
    if kind not in _CURVATURE:
        raise ValueError(f"kind must be one of {sorted(_CURVATURE)}; got {kind!r}.")
    return 2.0 * length / _CURVATURE[kind](n, sigma_g, eta_g)
