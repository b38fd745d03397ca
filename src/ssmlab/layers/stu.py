r"""Spectral Transform Unit (STU) and AR-STU layers [STU, eqs. (4)-(6), App. B eq. (8)].

With spectral filters (σ_k, φ_k) of Z (or Z_L), features (0-based lag i, `u_s = 0` for s < 1)

    U⁺_{t,k} = Σ_{i=0}^{t-1} φ_k(i) u_{t-i},      U⁻_{t,k} = Σ_{i=0}^{t-1} (-1)^i φ_k(i) u_{t-i},

and the output (row-vector convention, `u_t[i] M[i, o]`)

    ŷ_t = Σ_{j=1}^{k_y} ŷ_{t-j} M^y_j + Σ_{j=1}^{k_u} u_{t+1-j} M^u_j
          + Σ_k σ_k^{1/4} (U⁺_{t-d,k} M^{φ+}_k + U⁻_{t-d,k} M^{φ-}_k).

Paper eq. (4) is d = 2, k_u = 3 and the fixed recurrence ŷ_t = ŷ_{t-2} + ... (preset
`paper_eq4`); AR-STU, eq. (5)/(6), makes M^y learnable (preset `paper_ar_stu`, init M^y_2 = 0.9 I).
The seed paper lost these formulas: the indexing (d = 2, k_u = 3) is the reconstruction of the
spectral-ssm spec §3, which the official code agrees with.

Implementation. The delay d and the weight σ^{1/4} are folded into frozen kernels
κ⁺_k(j) = σ_k^{1/4} φ_k(j-d), κ⁻_k(j) = (-1)^{j-d} κ⁺_k(j), whose rfft (size n >= 2L-1, linear
not circular convolution) is computed once at construction. The spectral term then has three
exact evaluation orders (J = number of kernels, K or 2K; counts of length-n transforms):

* ``features`` (A′, the straightforward order): rfft each input channel, multiply by every
  kernel spectrum, irfft the J·H_in features, contract (k, i) -> o in time. H_in + J·H_in.
* ``contract_first`` (B): v_{j,o} = Σ_i u_i M_j[i, o] in time, rfft, multiply by Φ_j and sum over
  j in frequency, irfft. J·H_out + H_out.
* ``frequency`` (C): rfft u, contract G[m, j, i] = Φ_j[m] û_i[m] with the real M over (j, i)
  bin by bin (real and imaginary parts as one real matmul), irfft. H_in + H_out.
* ``transfer`` (C2): the same transforms, but the weights are first summed into per-bin transfer
  matrices W[m] = Σ_j Φ_j[m] M_j [H_in, H_out] (independent of u, so under `vmap` they are built
  once per batch), then ŷ[m] = û[m] W[m]: per sequence H_in·H_out complex MACs per bin instead of
  J·H_in·H_out, at the price of n/2·H_in·H_out complex numbers of memory.

The default order "auto" is C2 unless W would exceed 2^27 complex entries, then C: measured on
CPU (float32, K = 24, both branches) C2 was 3.2x (batch 1) to 16x (batch 8) faster than A′, and
C 2.6-4.6x; B was slightly slower than A′ (same transform count).

The output recurrence with learnable M^y runs as `lax.scan` or as an associative scan on the
companion state [ŷ_{t-1} ... ŷ_{t-k_y}]; the fixed eq. (4) recurrence is two cumulative sums
(even and odd t), exact.

Recurrent use (`init_state`, `step`, `layer(u, state=...)`, `stepper(route=...)`): see
`layers.stu_generation`; the exact route keeps the last seq_len inputs, FutureFill and a distilled
LDS are the fast routes.

`STUApprox` is the tensordot approximation of the Flash STU line of work: it is a strictly
smaller function class, not a rewrite (see its docstring).
"""

from __future__ import annotations

import copy
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray

from .._roles import fields_with_role
from ..core.ar_recurrence import AR_METHODS as AR_METHODS
from ..core.ar_recurrence import eq4_recurrence as eq4_recurrence
from ..core.ar_recurrence import output_recurrence as output_recurrence
from ..core.checks import as_inexact, check_float_dtype
from ..core.fftconv import fft_size
from ..core.filter_cache import cached_spectral_filters
from ..core.futurefill import CachedConvState
from .base import AbstractSequenceLayer, register_layer, width_argument
from .frozen import FrozenArray
from .stu_generation import STUStepper, STUStepState, make_stepper

ORDERS = ("frequency", "contract_first", "features", "transfer")
M_Y_MODES = ("none", "fixed_eq4", "learnable")
INITS = ("zeros", "official", "normal")
DEFAULT_ORDER = "auto"  # "transfer" unless its weights would be large; fastest in benchmarks/bench_stu.py
TRANSFER_MAX_ELEMENTS = 2**27  # complex entries of W (1 GiB in complex64) above which "auto" picks "frequency"


def choose_order(*, fft_n: int, d_in: int, d_out: int) -> str:
    """The order "auto" resolves to: "transfer" while W [n/2+1, H_in, H_out] stays small, else "frequency"."""
    return "transfer" if (fft_n // 2 + 1) * d_in * d_out <= TRANSFER_MAX_ELEMENTS else "frequency"


@dataclasses.dataclass(frozen=True)
class STUOptions:
    """Structural options of an STU; presets fill them, keyword arguments override."""

    kind: str = "hankel"
    branches: str = "both"
    filter_delay: int = 2
    k_u: int = 3
    m_y_mode: str = "fixed_eq4"
    k_y: int = 2
    init: str = "zeros"
    alpha: float = 0.9


PRESETS = {
    "paper_eq4": STUOptions(),
    "paper_ar_stu": STUOptions(m_y_mode="learnable"),
    "official": STUOptions(branches="plus", m_y_mode="learnable", init="official"),
    "flash": STUOptions(filter_delay=0, k_u=0, m_y_mode="none", k_y=0, init="normal"),
    "flash_hankel_l": STUOptions(kind="hankel_l", branches="plus", filter_delay=0, k_u=0, m_y_mode="none", k_y=0,
                                 init="normal"),
}


def resolve_options(preset: str = "paper_eq4", **overrides) -> STUOptions:
    """Preset options with explicit overrides (None = keep the preset's value), validated."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}.")
    fields = {f.name for f in dataclasses.fields(STUOptions)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown STU options {sorted(unknown)}; valid: {sorted(fields)}.")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides.get("kind") == "hankel_l" and "branches" not in overrides:
        overrides["branches"] = "plus"  # Z_L covers α in [-1, 1] with one bank (App. B, eq. 8)
    opts = dataclasses.replace(PRESETS[preset], **overrides)
    if opts.kind not in ("hankel", "hankel_l"):
        raise ValueError(f"kind must be 'hankel' (Z, eq. 3) or 'hankel_l' (Z_L, eq. 7); got {opts.kind!r}.")
    if opts.branches not in ("both", "plus"):
        raise ValueError(f"branches must be 'both' or 'plus'; got {opts.branches!r}.")
    if opts.kind == "hankel_l" and opts.branches != "plus":
        raise ValueError("kind='hankel_l' covers α in [-1, 1] with one filter bank: pass branches='plus'.")
    if opts.filter_delay not in (0, 1, 2, 3):
        raise ValueError(f"filter_delay must be 0, 1, 2 or 3 (paper eq. 4: 2); got {opts.filter_delay!r}.")
    if opts.k_u < 0 or opts.k_y < 0:
        raise ValueError(f"k_u and k_y must be >= 0; got k_u={opts.k_u}, k_y={opts.k_y}.")
    if opts.m_y_mode not in M_Y_MODES:
        raise ValueError(f"m_y_mode must be one of {M_Y_MODES}; got {opts.m_y_mode!r}.")
    if opts.m_y_mode == "learnable" and opts.k_y < 1:
        raise ValueError("m_y_mode='learnable' needs k_y >= 1 (number of past outputs); got k_y=0.")
    if opts.init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {opts.init!r}.")
    return opts


def stu_kernels(sigma, phi, *, filter_delay: int, branches: str) -> np.ndarray:
    """κ⁺_k(j) = σ_k^{1/4} φ_k(j-d) and κ⁻_k(j) = (-1)^{j-d} κ⁺_k(j), j < L [STU, eq. (4)]; float64 [L, J]."""
    sigma, phi = np.asarray(sigma, np.float64), np.asarray(phi, np.float64)
    L = phi.shape[0]
    plus = np.zeros_like(phi)
    plus[filter_delay:] = phi[: L - filter_delay] * np.maximum(sigma, 0.0)[None, :] ** 0.25
    if branches == "plus":
        return plus
    sign = np.where((np.arange(L) - filter_delay) % 2 == 0, 1.0, -1.0)
    return np.concatenate([plus, sign[:, None] * plus], axis=1)


def _shift(x: Array, lag: int) -> Array:
    """x delayed by `lag` steps along axis 0 (zeros shifted in)."""
    if lag == 0:
        return x
    L = x.shape[0]
    pad = jnp.zeros((min(lag, L),) + x.shape[1:], x.dtype)
    return jnp.concatenate([pad, x[: max(L - lag, 0)]], axis=0)


def input_taps(u: Float[Array, "L Hin"], m_u: Float[Array, "ku Hin Hout"]) -> Float[Array, "L Hout"]:
    """Σ_{j=0}^{k_u-1} u_{t-j} M^u_j, the auto-regressive input terms [STU, eq. (4)]."""
    return sum(_shift(u, j) @ m_u[j] for j in range(m_u.shape[0]))


def fold_input_taps(spectrum, m: Float[Array, "J Hin Hout"], m_u: Float[Array, "ku Hin Hout"], *,
                    n: int) -> tuple[Array, Array]:
    """Kernels and weights extended by the input taps: u_{t-j} M^u_j is the causal convolution of u with
    the unit delay δ_j, whose rfft is e^{-2πi m j/n} [STU, eq. (4)].

    With order "transfer" the taps then enter W[m] = Σ_j Φ_j[m] M_j, built once per batch, and cost
    nothing per sequence (the direct shifted matmuls were 1.5-3x the k_u = 0 step on CPU at batch 32;
    benchmarks/bench_stu.py). Exact for delays j <= n - L (no wrap-around); `STU` folds only then.
    """
    k_u = m_u.shape[0]
    phase = -2.0 * np.pi * ((np.arange(n // 2 + 1)[:, None] * np.arange(k_u)[None, :]) % n) / n  # float64, host
    delays = jnp.asarray(np.cos(phase) + 1j * np.sin(phase), spectrum.dtype)
    return jnp.concatenate([spectrum, delays], axis=1), jnp.concatenate([m, m_u.astype(m.dtype)], axis=0)


def spectral_term(u: Float[Array, "L Hin"], spectrum, m: Float[Array, "J Hin Hout"], *, n: int,
                  order: str = "transfer") -> Float[Array, "L Hout"]:
    """Σ_j (κ_j * u)_t M_j with causal FFT convolution (`spectrum` = rfft(κ, n) [m, J]) [STU, eq. (4)]."""
    L = u.shape[0]
    if order == "features":  # A′
        feats = jnp.fft.irfft(spectrum[:, :, None] * jnp.fft.rfft(u, n=n, axis=0)[:, None, :], n=n, axis=0)[:L]
        return jnp.einsum("lji,jio->lo", feats, m)
    if order == "contract_first":  # B
        v = jnp.einsum("li,jio->ljo", u, m)
        y_hat = jnp.einsum("mjo,mj->mo", jnp.fft.rfft(v, n=n, axis=0), spectrum)
        return jnp.fft.irfft(y_hat, n=n, axis=0)[:L]
    if order == "frequency":  # C
        g = spectrum[:, :, None] * jnp.fft.rfft(u, n=n, axis=0)[:, None, :]
        bins, J, H_in = g.shape
        ri = jnp.concatenate([g.real, g.imag], axis=0).reshape(2 * bins, J * H_in)
        y_ri = ri @ m.reshape(J * H_in, m.shape[2])
        return jnp.fft.irfft(lax.complex(y_ri[:bins], y_ri[bins:]), n=n, axis=0)[:L]
    if order == "transfer":  # C2: per-bin transfer matrices W[m] = Σ_j Φ_j[m] M_j, independent of u
        w = lax.complex(jnp.einsum("mj,jio->mio", spectrum.real, m), jnp.einsum("mj,jio->mio", spectrum.imag, m))
        y_hat = jnp.einsum("mi,mio->mo", jnp.fft.rfft(u, n=n, axis=0), w)
        return jnp.fft.irfft(y_hat, n=n, axis=0)[:L]
    raise ValueError(f"order must be one of {ORDERS}; got {order!r}.")


def _init_m_y(opts: STUOptions, h_out: int, dtype) -> Array | None:
    if opts.m_y_mode != "learnable":
        return None
    m_y = jnp.zeros((opts.k_y, h_out, h_out), dtype)
    if opts.init == "zeros" and opts.k_y >= 2:  # paper App. C.2: M^y_2 = αI, others 0
        m_y = m_y.at[1].set(opts.alpha * jnp.eye(h_out, dtype=dtype))
    return m_y


def _frozen_spectrum(kernels: np.ndarray, n: int, dtype) -> FrozenArray:
    """rfft(κ, n) in float64 on the host, stored as real [2, n//2+1, J] (real, imaginary) in `dtype`."""
    spec = np.fft.rfft(kernels, n=n, axis=0)
    return FrozenArray(np.stack([spec.real, spec.imag]).astype(_host_dtype(dtype)))


def _host_dtype(dtype) -> np.dtype:
    """NumPy dtype a frozen buffer of a `dtype` layer is stored in (float64 only when x64 is on)."""
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))


def _check_input(u, h_in: int, seq_len: int):
    """`u` as a real float array (ints -> float; complex refused), after checking its shape."""
    u = as_inexact("u", u, complex_ok=False)
    if u.ndim != 2 or u.shape[1] != h_in or not 1 <= u.shape[0] <= seq_len:
        raise ValueError(f"u must have shape [L, H_in={h_in}] with 1 <= L <= seq_len={seq_len}; got "
                         f"{tuple(u.shape)}. Use jax.vmap(layer) for batches, or build the layer with a "
                         "larger seq_len.")
    return u


def _work_dtype(u, param) -> jnp.dtype:
    dtype = jnp.result_type(u, param)
    return jnp.dtype(jnp.float32) if jnp.finfo(dtype).bits < 32 else dtype


def stu_frozen_fields() -> tuple[str, ...]:
    """Names of the frozen fields of `STU` and `STUApprox`: static `FrozenArray`s, so no optimiser sees them."""
    return fields_with_role(STU, "frozen")


def _filter_spectrum(seq_len: int, num_filters: int, opts: STUOptions, dtype, use_cache: bool):
    """Frozen (sigma, rfft of the kernels as [2, n//2+1, J], n) for a layer built for `seq_len`."""
    sigma, phi = cached_spectral_filters(seq_len=seq_len, num_filters=num_filters, kind=opts.kind,
                                         use_cache=use_cache)
    n = fft_size(2 * seq_len - 1) if seq_len > 1 else 2
    kernels = stu_kernels(sigma, phi, filter_delay=opts.filter_delay, branches=opts.branches)
    return FrozenArray(np.asarray(sigma).astype(_host_dtype(dtype))), _frozen_spectrum(kernels, n, dtype), n


def _autoregression(self, u: Array, delta: Array, dtype, *, taps: bool = True) -> Array:
    """Add the input taps to Δ (unless already folded into it) and run the output recurrence (STU, STUApprox)."""
    if self.m_u is not None and taps:
        delta = delta + input_taps(u, self.m_u.astype(dtype))
    if self.m_y_mode == "fixed_eq4":
        return eq4_recurrence(delta)
    if self.m_y_mode == "learnable":
        return output_recurrence(delta, self.m_y.astype(dtype), method=self.ar_method)
    return delta


def _stepper(self, m_phi, route: str, block: int | None, state_size: int | None) -> STUStepper:
    return make_stepper(filters_fft=self.filters_fft.value(), m_phi=m_phi, m_u=self.m_u, m_y=self.m_y,
                        m_y_mode=self.m_y_mode, n=self.fft_n, seq_len=self.seq_len, route=route, block=block,
                        state_size=state_size, dtype=_work_dtype(m_phi, m_phi))


def _exact_state(self, state) -> STUStepState:
    if not (isinstance(state, STUStepState) and isinstance(state.conv, CachedConvState)):
        raise TypeError(f"{type(self).__name__}.step and layer(u, state=...) take the exact route's state from "
                        "layer.init_state(); for FutureFill/LDS states use the matching layer.stepper(route=...).")
    return state


class STU(AbstractSequenceLayer):
    """Spectral Transform Unit, exact: paper eq. (4) (preset `paper_eq4`) and AR-STU eq. (6) [STU, §3-§5].

    Parameters (inspect them by name; row-vector convention u_t[i] M[i, o]):
    `m_phi_plus[K, H_in, H_out]`, `m_phi_minus[K, H_in, H_out]` (None for one branch),
    `m_u[k_u, H_in, H_out]` (None if k_u = 0), `m_y[k_y, H_out, H_out]` (learnable AR only).
    Frozen (see `stu_frozen_fields()`): `sigma[K]` and `filters_fft[2, n//2+1, J]`, the real and
    imaginary parts of rfft(κ, n), κ the delayed σ^{1/4}-weighted filters of both branches. They
    are static `FrozenArray`s, not pytree leaves, so `eqx.partition(model, eqx.is_inexact_array)`
    with any optax optimiser (weight decay included) leaves them untouched; read them with
    `np.asarray(layer.sigma)` or `layer.filters_fft.value()`.
    Noise-level filters (σ_k/σ_1 < 1e-14 at short L) are kept: their weight σ^{1/4} is < 3e-4,
    so they only add parameters; pass a smaller `num_filters` to drop them.
    Inputs may be shorter than `seq_len`: the seq_len filters are used at lags < L (the FFT size
    stays that of seq_len, so the output is exact, only not the cheapest for short inputs).

    >>> import jax.numpy as jnp, jax.random as jr
    >>> layer = STU(d_model=2, seq_len=32, num_filters=4, preset="paper_ar_stu", key=jr.key(0))
    >>> layer(jnp.ones((32, 2))).shape
    (32, 2)
    """

    m_phi_plus: Float[Array, "K Hin Hout"]
    m_phi_minus: Float[Array, "K Hin Hout"] | None
    m_u: Float[Array, "ku Hin Hout"] | None
    m_y: Float[Array, "ky Hout Hout"] | None = eqx.field(metadata={"role": "recurrent"})  # AR: 0.1 x LR, wd 0
    sigma: FrozenArray = eqx.field(static=True, metadata={"role": "frozen"})  # [K], not a leaf (layers/frozen.py)
    filters_fft: FrozenArray = eqx.field(static=True, metadata={"role": "frozen"})  # [2, n//2+1, J]
    seq_len: int = eqx.field(static=True)
    fft_n: int = eqx.field(static=True)
    options: STUOptions = eqx.field(static=True)
    m_y_mode: str = eqx.field(static=True)
    order: str = eqx.field(static=True)
    ar_method: str = eqx.field(static=True)

    def __init__(self, *, d_model: int | None = None, seq_len: int, d_out: int | None = None, num_filters: int = 24,
                 preset: str = "paper_eq4", order: str = DEFAULT_ORDER, ar_method: str = "scan",
                 dtype=jnp.float32, use_cache: bool = True, key: PRNGKeyArray, d_in: int | None = None,
                 **options):
        """Build filters (cached on disk) and parameters; `options` override the preset's `STUOptions`.

        `d_model` is the input width H_in (`d_out` defaults to it); `d_in` is its deprecated alias.
        """
        d_in = width_argument("STU", d_model, d_in)
        opts = resolve_options(preset, **options)
        d_out = d_in if d_out is None else d_out
        _check_sizes(d_in, d_out, seq_len, num_filters, dtype)
        _check_methods(order, ar_method)
        self.sigma, self.filters_fft, self.fft_n = _filter_spectrum(seq_len, num_filters, opts, dtype, use_cache)
        k_phi, k_minus, k_u = jr.split(key, 3)
        self.m_phi_plus = _init_matrix(k_phi, (num_filters, d_in, d_out), opts.init, dtype)
        self.m_phi_minus = (_init_matrix(k_minus, (num_filters, d_in, d_out), opts.init, dtype)
                            if opts.branches == "both" else None)
        self.m_u = _init_m_u(k_u, opts, d_in, d_out, dtype)
        self.m_y = _init_m_y(opts, d_out, dtype)
        self.seq_len, self.options, self.m_y_mode = int(seq_len), opts, opts.m_y_mode
        if order == "auto":
            order = choose_order(fft_n=self.fft_n, d_in=d_in, d_out=d_out)
        self.order, self.ar_method = order, ar_method

    def with_methods(self, *, order: str | None = None, ar_method: str | None = None) -> STU:
        """The same layer (shared arrays) evaluated with another exact order and/or recurrence method."""
        order = self.order if order is None else order
        ar_method = self.ar_method if ar_method is None else ar_method
        _check_methods(order, ar_method)
        if order == "auto":
            order = choose_order(fft_n=self.fft_n, d_in=self.m_phi_plus.shape[1], d_out=self.m_phi_plus.shape[2])
        new = copy.copy(self)
        object.__setattr__(new, "order", order)
        object.__setattr__(new, "ar_method", ar_method)
        return new

    @property
    def m_phi(self) -> Float[Array, "J Hin Hout"]:
        """Spectral weights of all kernels, plus branch then minus branch, matching `filters_fft`."""
        if self.m_phi_minus is None:
            return self.m_phi_plus
        return jnp.concatenate([self.m_phi_plus, self.m_phi_minus], axis=0)


    def stepper(self, route: str = "exact", *, block: int | None = None, state_size: int | None = None) -> STUStepper:
        """This layer prepared for generation by `route` ("exact", "futurefill", "futurefill_epoched", "lds")."""
        return _stepper(self, self.m_phi, route, block, state_size)

    def init_state(self) -> STUStepState:
        """State of the exact route: the last seq_len inputs and the last outputs, all zero."""
        return self.stepper().init_state()

    def step(self, state: STUStepState, u_t: Array) -> tuple[STUStepState, Array]:
        """One exact step of eq. (4)/(6) from the state of `init_state()` (O(seq_len) work) [STU, eq. (4)]."""
        return self.stepper().step(_exact_state(self, state), u_t)

    def spectrum(self, dtype) -> Array:
        """Complex kernel spectrum rfft(κ, n) [n//2+1, J] (a constant: no gradient flows into it)."""
        f = self.filters_fft.value(dtype)
        return lax.complex(f[0], f[1])

    def __call__(self, u: Array, state: STUStepState | None = None):
        """Apply the layer to one sequence u [L, H_in] (L <= seq_len); returns [L, H_out]; with `state`: (y, state)."""
        if state is not None:
            return self.stepper()(u, _exact_state(self, state))
        u = _check_input(u, self.m_phi_plus.shape[1], self.seq_len)
        dtype = _work_dtype(u, self.m_phi_plus)
        x = u.astype(dtype)
        spectrum, m = self.spectrum(dtype), self.m_phi.astype(dtype)
        # Taps inside W (free per sequence) when no delay can wrap around the circular FFT: j <= n - L.
        fold = self.m_u is not None and self.order == "transfer" and self.m_u.shape[0] <= self.fft_n - self.seq_len + 1
        if fold:
            spectrum, m = fold_input_taps(spectrum, m, self.m_u.astype(dtype), n=self.fft_n)
        delta = spectral_term(x, spectrum, m, n=self.fft_n, order=self.order)
        return _autoregression(self, x, delta, dtype, taps=not fold).astype(jnp.result_type(u, self.m_phi_plus))


class STUApprox(AbstractSequenceLayer):
    r"""Tensordot-approximate STU (Flash STU's `use_approx`): a strictly smaller class than eq. (4).

    Output channel o is one causal convolution of (u M_in)_o with the channel's own filter
    Σ_k M_f[k, o] κ_k: Σ_k (κ_k * (u M_in)_o) M_f[k, o]. This equals the exact STU only for
    M^φ_k[i, o] = M_f[k, o] · M_in[i, o], rank one per output channel: parameters
    H_in·H_out + K·H_out per branch instead of K·H_in·H_out, and H_out + H_out transforms.
    Unlike flash-stu-2, the plus and minus branches have separate `m_filters_*`, so odd lags are
    not cancelled. `m_inputs` starts Gaussian (std H_in^{-1/2}) and `m_filters_*` at zero under
    init "zeros" (both at zero would be a saddle with zero gradient).
    Input/output auto-regression (`m_u`, `m_y`) are the same as in `STU`.
    """

    m_inputs: Float[Array, "Hin Hout"]
    m_filters_plus: Float[Array, "K Hout"]
    m_filters_minus: Float[Array, "K Hout"] | None
    m_u: Float[Array, "ku Hin Hout"] | None
    m_y: Float[Array, "ky Hout Hout"] | None = eqx.field(metadata={"role": "recurrent"})  # AR: 0.1 x LR, wd 0
    sigma: FrozenArray = eqx.field(static=True, metadata={"role": "frozen"})  # [K], not a leaf (layers/frozen.py)
    filters_fft: FrozenArray = eqx.field(static=True, metadata={"role": "frozen"})  # [2, n//2+1, J]
    seq_len: int = eqx.field(static=True)
    fft_n: int = eqx.field(static=True)
    options: STUOptions = eqx.field(static=True)
    m_y_mode: str = eqx.field(static=True)
    ar_method: str = eqx.field(static=True)

    def __init__(self, *, d_model: int | None = None, seq_len: int, d_out: int | None = None, num_filters: int = 24,
                 preset: str = "flash", ar_method: str = "scan", dtype=jnp.float32, use_cache: bool = True,
                 key: PRNGKeyArray, d_in: int | None = None, **options):
        """Build filters and parameters; `options` override the preset's `STUOptions`.

        `d_model` is the input width H_in (`d_out` defaults to it); `d_in` is its deprecated alias.
        """
        d_in = width_argument("STUApprox", d_model, d_in)
        opts = resolve_options(preset, **options)
        d_out = d_in if d_out is None else d_out
        _check_sizes(d_in, d_out, seq_len, num_filters, dtype)
        _check_methods(DEFAULT_ORDER, ar_method)
        self.sigma, self.filters_fft, self.fft_n = _filter_spectrum(seq_len, num_filters, opts, dtype, use_cache)
        k_in, k_plus, k_minus, k_u = jr.split(key, 4)
        self.m_inputs = jr.normal(k_in, (d_in, d_out), dtype) / float(np.sqrt(d_in))
        self.m_filters_plus = _init_matrix(k_plus, (num_filters, d_out), opts.init, dtype)
        self.m_filters_minus = (_init_matrix(k_minus, (num_filters, d_out), opts.init, dtype)
                                if opts.branches == "both" else None)
        self.m_u = _init_m_u(k_u, opts, d_in, d_out, dtype)
        self.m_y = _init_m_y(opts, d_out, dtype)
        self.seq_len, self.options, self.m_y_mode, self.ar_method = int(seq_len), opts, opts.m_y_mode, ar_method

    @property
    def m_filters(self) -> Float[Array, "J Hout"]:
        """Per-channel filter mixing weights of all kernels (plus, then minus)."""
        if self.m_filters_minus is None:
            return self.m_filters_plus
        return jnp.concatenate([self.m_filters_plus, self.m_filters_minus], axis=0)

    def equivalent_m_phi(self) -> Float[Array, "J Hin Hout"]:
        """The exact-STU weights this layer equals: M^φ_j[i, o] = M_f[j, o] M_in[i, o] (rank one per o)."""
        return self.m_filters[:, None, :] * self.m_inputs[None, :, :]


    def stepper(self, route: str = "exact", *, block: int | None = None, state_size: int | None = None) -> STUStepper:
        """This layer prepared for generation by `route` ("exact", "futurefill", "futurefill_epoched", "lds")."""
        return _stepper(self, self.equivalent_m_phi(), route, block, state_size)

    def init_state(self) -> STUStepState:
        """State of the exact route: the last seq_len inputs and the last outputs, all zero."""
        return self.stepper().init_state()

    def step(self, state: STUStepState, u_t: Array) -> tuple[STUStepState, Array]:
        """One exact step of eq. (4)/(6) from the state of `init_state()` (O(seq_len) work) [STU, eq. (4)]."""
        return self.stepper().step(_exact_state(self, state), u_t)

    def __call__(self, u: Array, state: STUStepState | None = None):
        """Apply the layer to one sequence u [L, H_in] (L <= seq_len); returns [L, H_out]; with `state`: (y, state)."""
        if state is not None:
            return self.stepper()(u, _exact_state(self, state))
        u = _check_input(u, self.m_inputs.shape[0], self.seq_len)
        dtype = _work_dtype(u, self.m_inputs)
        x = u.astype(dtype)
        f = self.filters_fft.value(dtype)
        channel_filters = lax.complex(f[0] @ self.m_filters.astype(dtype), f[1] @ self.m_filters.astype(dtype))
        v_hat = jnp.fft.rfft(x @ self.m_inputs.astype(dtype), n=self.fft_n, axis=0)
        delta = jnp.fft.irfft(v_hat * channel_filters, n=self.fft_n, axis=0)[: x.shape[0]]
        return _autoregression(self, x, delta, dtype).astype(jnp.result_type(u, self.m_inputs))


def _check_sizes(d_in, d_out, seq_len, num_filters, dtype) -> None:
    check_float_dtype("dtype", dtype)
    for name, v in (("d_model", d_in), ("d_out", d_out), ("seq_len", seq_len), ("num_filters", num_filters)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}.")
    if num_filters > seq_len:
        raise ValueError(f"num_filters must be <= seq_len={seq_len} (Z is L x L); got {num_filters}.")


def _check_methods(order: str, ar_method: str) -> None:
    if order not in ORDERS + ("auto",):
        raise ValueError(f"order must be one of {ORDERS}; got {order!r}.")
    if ar_method not in AR_METHODS:
        raise ValueError(f"ar_method must be one of {AR_METHODS}; got {ar_method!r}.")


def _init_matrix(key, shape, init: str, dtype) -> Array:
    if init in ("zeros", "official"):  # paper App. C.2 / official: spectral weights start at 0
        return jnp.zeros(shape, dtype)
    fan_in = int(np.prod(shape[:-1]))
    return jr.normal(key, shape, dtype) / float(np.sqrt(fan_in))  # a Python float keeps dtype


def _init_m_u(key, opts: STUOptions, d_in: int, d_out: int, dtype) -> Array | None:
    if opts.k_u == 0:
        return None
    shape = (opts.k_u, d_in, d_out)
    if opts.init == "official":  # truncated normal on [-2, 2] times d_out^{-1/2}
        return jr.truncated_normal(key, -2.0, 2.0, shape, dtype) / float(np.sqrt(d_out))
    return _init_matrix(key, shape, opts.init, dtype)


def _options(options: dict) -> tuple[dict, dict]:
    layer_keys = {"num_filters", "order", "ar_method", "dtype", "use_cache", "d_out", "preset"}
    return ({k: v for k, v in options.items() if k in layer_keys},
            {k: v for k, v in options.items() if k not in layer_keys})


@register_layer("stu")
def make_stu(*, d_model: int, seq_len: int, key, use_tensordot_approx: bool = False, **options):
    """Registry factory: exact `STU` (default preset `paper_eq4`), or `STUApprox` with `use_tensordot_approx`."""
    layer_kw, opts = _options(options)
    if use_tensordot_approx:
        layer_kw.pop("order", None)
        return STUApprox(d_model=d_model, seq_len=seq_len, key=key, **layer_kw, **opts)
    return STU(d_model=d_model, seq_len=seq_len, key=key, **layer_kw, **opts)


@register_layer("ar_stu")
def make_ar_stu(*, d_model: int, seq_len: int, key, **options):
    """Registry factory: AR-STU, eq. (6) with learnable M^y (k_y = 2, M^y_2 = 0.9 I) [STU, §5]."""
    options.setdefault("preset", "paper_ar_stu")
    return make_stu(d_model=d_model, seq_len=seq_len, key=key, **options)
