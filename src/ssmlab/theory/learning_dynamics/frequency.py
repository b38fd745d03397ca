r"""Frequency-domain view of linear diagonal SSMs: data statistics, losses and exact gradients [LDyn].

Model (one layer, SISO, eq. (1)): x_t = diag(a) x_{t-1} + b u_t, y_t = c·x_t with a, b, c in R^N.
A stack of K such layers (no nonlinearity) is given by arrays a, b, c of shape [K, N]; a single
layer may be passed as [N].

Conventions (one for the whole module):

* DFT: numpy's, full spectrum, X_k = Σ_{t=0}^{L-1} x_t e^{-2πikt/L}, k = 0..L-1. The paper indexes
  t, k = 1..L; that multiplies U_k and Y_k by the same phase, so σ_k and η_k are unchanged.
* z_k = e^{-2πik/L}, g_{ki} = 1/(1 - z_k a_i), H_k = Σ_i c_i g_{ki} b_i          [LDyn, eqs. (2), (25)].
* Per-bin statistics σ_k = Y_k U_k^*, η_k = |U_k|^2                           [LDyn, eq. (28)].
* Losses: time domain L_time = Σ_t (y_t - ŷ_t)^2 (a *sum*, not a mean), frequency domain
  L_freq = Σ_k |Y_k - H_k U_k|^2, and Parseval gives L_time = L_freq / L exactly for the
  periodic model ([LDyn, Prop. 2]; the paper's eq. (16) is garbled as "L̃ = (1/L) L̃").
* Flow rates: `*_rates` return R_θ = Re Σ_k (σ_k - H_k η_k) (∂H_k/∂θ)^* = -(1/2) ∂L_freq/∂θ, the
  right-hand side of τ dθ/dt = R_θ [LDyn, eqs. (3), (32)-(39)]. Gradient descent on L_time with
  learning rate λ is θ ← θ + (2λ/L) R_θ, i.e. τ = L/(2λ) with t counted in steps.

Corrections to the paper used here: eq. (28) has a sign slip (Δa = +2λ Σ ...); eqs. (29)-(30)
put a_i in the exponent (it multiplies); eq. (31) is the complex conjugate of ∂H_k/∂a_i, which
is c_i b_i z_k / (1 - z_k a_i)^2.

Time-domain model: the periodic steady state (input repeated forever) satisfies Y_k = H_k U_k
exactly. The zero-initial-state (causal) output differs from it by c diag(a^{t+1}) x_p with
x_p = x_{L-1}/(1 - a^L): this is small only when the final state x_{L-1} is small (e.g. the
input ends with m zeros and max|a|^m is negligible), not merely when max|a|^L is small.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from ...core.checks import check_finite, check_rank, check_stable, promote
from ...core.fftconv import causal_conv
from ...core.kernels import dft_grid
from ...core.scan import linear_recurrence

PARAM_NAMES = ("a", "b", "c")


def as_stack(a, b, c) -> tuple[Array, Array, Array, bool]:
    """Return (a, b, c) as [K, N] arrays and whether the input was a single layer [N]."""
    a, b, c = (jnp.asarray(v) for v in (a, b, c))
    for name, v in zip(PARAM_NAMES, (a, b, c), strict=True):
        check_rank(name, v, (1, 2), "[N] for one layer or [K, N] for K stacked layers")
    if not (a.shape == b.shape == c.shape):
        raise ValueError(f"a, b, c must have the same shape ([N] or [K, N]); got {a.shape}, {b.shape}, {c.shape}.")
    single = a.ndim == 1
    if single:
        a, b, c = a[None, :], b[None, :], c[None, :]
    return a, b, c, single


def check_learn(learn: Sequence[str]) -> tuple[str, ...]:
    """Validate a subset of {"a", "b", "c"} naming the trained (not frozen) parameters."""
    learn = tuple(learn)
    bad = [p for p in learn if p not in PARAM_NAMES]
    if bad or len(set(learn)) != len(learn):
        raise ValueError(f"learn must be a subset of {PARAM_NAMES} without repeats; got {learn!r}.")
    return learn


def dft(x: Float[Array, " L"]) -> Complex[Array, " L"]:
    """X_k = Σ_t x_t e^{-2πikt/L}, k = 0..L-1 (numpy convention, full spectrum) [LDyn, Prop. 1]."""
    x = jnp.asarray(x)
    check_rank("x", x, (1,), "[L], one scalar sequence")
    return jnp.fft.fft(x)


def bin_statistics(u: Float[Array, " Lu"], y: Float[Array, " Ly"]) -> tuple[Complex[Array, " L"], Float[Array, " L"]]:
    """Per-bin sufficient statistics σ_k = Y_k U_k^*, η_k = |U_k|^2 [LDyn, eq. (28)]."""
    u, y = jnp.asarray(u), jnp.asarray(y)
    check_rank("u", u, (1,), "[L], one input sequence")
    check_rank("y", y, (1,), "[L], one target sequence")
    if u.shape != y.shape:
        raise ValueError(f"u and y must have the same length; got {u.shape} and {y.shape}.")
    check_finite("u", u)
    check_finite("y", y)
    u_hat, y_hat = jnp.fft.fft(u), jnp.fft.fft(y)
    return y_hat * jnp.conj(u_hat), jnp.abs(u_hat) ** 2


def resolvent(a: Float[Array, " N"], *, length: int) -> Complex[Array, "L N"]:
    """g_{ki} = 1/(1 - z_k a_i), z_k = e^{-2πik/L} [LDyn, eq. (25)]."""
    a = jnp.asarray(a)
    check_rank("a", a, (1,), "[N], the diagonal of A")
    check_stable("a", a)
    z, a = promote(dft_grid(length), a)  # complex grid times a real (or complex) diagonal
    return 1.0 / (1.0 - z[:, None] * a[None, :])


def transfer_statistics(
    sigma_k: Complex[Array, " L"], eta_k: Float[Array, " L"], g: Complex[Array, " L"]
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """Section-3 statistics σ = Re Σ_k σ_k g_k^*, η = Σ_k η_k |g_k|^2 for a fixed scalar a [LDyn, eq. (4)].

    The sums over the full spectrum of a real signal are real; the real part is returned.
    With g_k = 1/(1-a) on the DC bin only these are Appendix B's σ/(1-a) and η/(1-a)^2.
    """
    if not (sigma_k.shape == eta_k.shape == g.shape):
        raise ValueError(f"sigma_k, eta_k, g must all be [L]; got {sigma_k.shape}, {eta_k.shape}, {g.shape}.")
    return jnp.real(jnp.sum(sigma_k * jnp.conj(g))), jnp.sum(eta_k * jnp.abs(g) ** 2)


def summed_statistics(
    sigma_k: Complex[Array, " L"], eta_k: Float[Array, " L"]
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """Appendix-B statistics σ = Re Σ_k σ_k, η = Σ_k η_k [LDyn, eq. (22)]."""
    if sigma_k.shape != eta_k.shape:
        raise ValueError(f"sigma_k and eta_k must have the same shape; got {sigma_k.shape}, {eta_k.shape}.")
    return jnp.real(jnp.sum(sigma_k)), jnp.sum(eta_k)


def layer_responses(a, b, c, *, length: int) -> Complex[Array, "K L"]:
    """H^{(l)}_k = Σ_i c_{li} b_{li} / (1 - z_k a_{li}) for each layer l [LDyn, eq. (25)]."""
    a, b, c, _ = as_stack(a, b, c)
    check_stable("a", a)
    z, a, b, c = promote(dft_grid(length), a, b, c)  # complex grid, real (or complex) layers
    g = 1.0 / (1.0 - z[None, :, None] * a[:, None, :])  # [K, L, N]
    return jnp.sum(g * (c * b)[:, None, :], axis=-1)


def total_response(a, b, c, *, length: int) -> Complex[Array, " L"]:
    """H_k = Π_l H^{(l)}_k for K stacked linear layers [LDyn, eq. (38)]."""
    return jnp.prod(layer_responses(a, b, c, length=length), axis=0)


def response_derivatives(a, b, c, *, length: int) -> tuple[Array, Array, Array]:
    """(∂H^{(l)}_k/∂a_i, ∂/∂b_i, ∂/∂c_i), each `[K, L, N]` [LDyn, eqs. (31), (35), corrected (31)].

    ∂H/∂a_i = c_i b_i z_k / (1 - z_k a_i)^2 (the paper's (31) is its complex conjugate),
    ∂H/∂b_i = c_i g_{ki}, ∂H/∂c_i = g_{ki} b_i.
    """
    a, b, c, _ = as_stack(a, b, c)
    z, a, b, c = promote(dft_grid(length)[None, :, None], a, b, c)  # complex grid, real layers
    g = 1.0 / (1.0 - z * a[:, None, :])
    return (c * b)[:, None, :] * z * g**2, c[:, None, :] * g, b[:, None, :] * g


def _exclusive_products(h: Array) -> Array:
    """Π_{m≠l} h_m along axis 0, without division (prefix times suffix products)."""
    ones = jnp.ones_like(h[:1])
    prefix = jnp.cumprod(jnp.concatenate([ones, h[:-1]], axis=0), axis=0)
    suffix = jnp.cumprod(jnp.concatenate([ones, h[::-1][:-1]], axis=0), axis=0)[::-1]
    return prefix * suffix


def flow_rates(
    a, b, c, sigma_k: Complex[Array, " L"], eta_k: Float[Array, " L"], *,
    learn: Sequence[str] = PARAM_NAMES, tied: bool = False,
) -> tuple[Array, Array, Array]:
    """R_θ = Re Σ_k (σ_k - H_k η_k)(∂H^{(l)}_k/∂θ)^* Π_{m≠l} (H^{(m)}_k)^* [LDyn, eqs. (32)-(39)].

    Returns rates shaped like a, b, c ([N] or [K, N]); frozen parameters get zero. R = -(1/2) ∂L_freq/∂θ.
    `tied=True`: each layer's a, b, c are one scalar shared by its N latent dimensions
    (A = aI, B = b1, C = c1 [LDyn, Sec. 4]); the rate of the shared scalar is the sum over i,
    returned broadcast to every i so tied parameters stay tied.
    """
    learn = check_learn(learn)
    a2, b2, c2, single = as_stack(a, b, c)
    sigma_k, eta_k = jnp.asarray(sigma_k), jnp.asarray(eta_k)
    length = sigma_k.shape[0]
    if sigma_k.shape != (length,) or eta_k.shape != (length,):
        raise ValueError(f"sigma_k and eta_k must both be [L]; got {sigma_k.shape}, {eta_k.shape}.")
    h_layers = layer_responses(a2, b2, c2, length=length)  # [K, L]
    resid = sigma_k - jnp.multiply(*promote(jnp.prod(h_layers, axis=0), eta_k))  # [L], complex H times real η
    weight = resid[None, :] * jnp.conj(_exclusive_products(h_layers))  # [K, L]
    rates = []
    for name, d in zip(PARAM_NAMES, response_derivatives(a2, b2, c2, length=length), strict=True):
        r = jnp.real(jnp.sum(weight[:, :, None] * jnp.conj(d), axis=1))  # [K, N]
        if tied:
            r = jnp.broadcast_to(jnp.sum(r, axis=1, keepdims=True), r.shape)
        rates.append(r if name in learn else jnp.zeros_like(r))
    return tuple(r[0] if single else r for r in rates)


def frequency_loss(a, b, c, u_hat: Complex[Array, " L"], y_hat: Complex[Array, " L"]) -> Float[Array, ""]:
    """L_freq = Σ_k |Y_k - H_k U_k|^2 with H_k = Π_l H^{(l)}_k [LDyn, eq. (26)]."""
    h = total_response(a, b, c, length=u_hat.shape[0])
    return jnp.sum(jnp.abs(y_hat - h * u_hat) ** 2)


def parseval_factor(*, length: int) -> float:
    """L_time / L_freq = 1/L for the unnormalised DFT [LDyn, Prop. 2, eq. (16) corrected]."""
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be a positive integer; got {length!r}.")
    return 1.0 / length


def learning_rate_to_tau(learning_rate: float, *, length: int) -> float:
    """τ = L/(2λ): GD on L_time = Σ_t (y-ŷ)^2 with step λ is τ dθ/dt = R_θ, t in steps [LDyn, Prop. 2]."""
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0; got {learning_rate!r}.")
    parseval_factor(length=length)
    return length / (2.0 * learning_rate)


def ssm_output(a, b, c, u: Float[Array, " L"], *, periodic: bool = True, method: str = "recurrence") -> Array:
    """Output of one SISO layer: y_t = Σ_i c_i x_{t,i}, x_t = a ⊙ x_{t-1} + b u_t [LDyn, eq. (1)].

    `periodic=True`: periodic steady state, x_{-1} = x^0_{L-1}/(1 - a^L) where x^0 is the
    zero-initial-state run, so that Y_k = H_k U_k exactly. `periodic=False`: x_{-1} = 0.
    `method`: "recurrence" (core.scan, two passes when periodic) or "fft" (kernel Σ c b a^t by
    causal FFT convolution; the periodic kernel is Σ c b a^t/(1-a^L) convolved circularly).
    """
    if method not in ("recurrence", "fft"):
        raise ValueError(f"method must be 'recurrence' or 'fft'; got {method!r}.")
    a, b, c, u = (jnp.asarray(v) for v in (a, b, c, u))
    check_rank("u", u, (1,), "[L], one input sequence")
    if not (a.shape == b.shape == c.shape) or a.ndim != 1:
        raise ValueError(f"a, b, c must all be [N] for one layer; got {a.shape}, {b.shape}, {c.shape}.")
    length = u.shape[0]
    if method == "recurrence":
        x = linear_recurrence(a, u[:, None] * b[None, :])
        if periodic:
            x0 = x[-1] / (1.0 - a**length)
            x = linear_recurrence(a, u[:, None] * b[None, :], x0=x0)
        return x @ c
    powers = jnp.power(*promote(a[None, :], jnp.arange(length)[:, None]))  # [L, N]
    scale = (c * b) / (1.0 - a**length) if periodic else c * b
    kernel = powers @ scale
    if periodic:
        return jnp.fft.irfft(jnp.fft.rfft(u) * jnp.fft.rfft(kernel), n=length)
    return causal_conv(u[:, None], kernel[:, None])[:, 0]


def stacked_output(a, b, c, u: Float[Array, " L"], *, periodic: bool = True, method: str = "recurrence") -> Array:
    """Output of K stacked SISO layers (layer 0 first), each `ssm_output` [LDyn, eq. (36)]."""
    a, b, c, _ = as_stack(a, b, c)
    y = jnp.asarray(u)
    for layer in range(a.shape[0]):
        y = ssm_output(a[layer], b[layer], c[layer], y, periodic=periodic, method=method)
    return y


def time_loss(y: Float[Array, " L"], y_model: Float[Array, " L"]) -> Float[Array, ""]:
    """L_time = Σ_t (y_t - ŷ_t)^2 (a sum over time, so that τ = L/(2λ)) [LDyn, eq. (16)]."""
    return jnp.sum((y - y_model) ** 2)
