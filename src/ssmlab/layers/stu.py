r"""Spectral Transform Unit (STU) and AR-STU layers [STU, eqs. (4)-(6), App. B eq. (8)].

With spectral filters (σ_k, φ_k) of Z (or Z_L), features (0-based lag i, `u_s = 0` for s < 1)

    U⁺_{t,k} = Σ_{i=0}^{t-1} φ_k(i) u_{t-i},      U⁻_{t,k} = Σ_{i=0}^{t-1} (-1)^i φ_k(i) u_{t-i},

and the output (row-vector convention, `u_t[i] M[i, o]`)

    ŷ_t = Σ_{j=1}^{k_y} ŷ_{t-j} M^y_j + Σ_{j=1}^{k_u} u_{t+1-j} M^u_j
          + Σ_k σ_k^{1/4} (U⁺_{t-d,k} M^{φ+}_k + U⁻_{t-d,k} M^{φ-}_k).

Paper eq. (4) is d = 2, k_u = 3 and the fixed recurrence ŷ_t = ŷ_{t-2} + ... (preset
`paper_eq4`); AR-STU, eq. (5)/(6), makes M^y learnable (preset `paper_ar_stu`, init M^y_2 = 0.9 I).
The seed paper lost these formulas: the indexing (d = 2, k_u = 3) is ours, re-derived from the
proof of Theorem 3.1 [STU, App. A] (docs/layers/stu.md, "Layer equations"); the official code agrees.

Implementation (the maths is in `core.stu`, this module holds the Equinox modules). The delay d and
the weight σ^{1/4} are folded into frozen kernels κ⁺_k(j) = σ_k^{1/4} φ_k(j-d),
κ⁻_k(j) = (-1)^{j-d} κ⁺_k(j), whose rfft (size n >= 2L-1, linear not circular convolution) is
computed once at construction (`SpectralBank`). The spectral term has four exact evaluation orders
(`core.stu.ORDERS`: features A′, contract_first B, frequency C, transfer C2; see `core.stu`). The
default order "auto" is C2 unless W would exceed 2^27 complex entries, then C: measured on CPU
(float32, K = 24, both branches) C2 was 3.2x (batch 1) to 16x (batch 8) faster than A′, and C
2.6-4.6x; B was slightly slower than A′ (same transform count).

The input taps and the output recurrence (`AutoRegression`, shared by `STU` and `STUApprox`): learnable
M^y runs as `lax.scan` or as an associative scan on the companion state [ŷ_{t-1} ... ŷ_{t-k_y}];
the fixed eq. (4) recurrence is two cumulative sums (even and odd t), exact.

Recurrent use (`init_state`, `step`, `layer(u, state=...)`, `stepper(route=...)`): see
`layers.stu_generation`; the exact route keeps the last seq_len inputs, FutureFill and a distilled
LDS are the fast routes.

`STUApprox` is the tensordot approximation of the Flash STU line of work: it is a strictly
smaller function class, not a rewrite (see its docstring).
"""

from __future__ import annotations

import abc
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
from ..core.fftconv import fft_size, host_kernel_spectrum
from ..core.filter_cache import cached_spectral_filters
from ..core.futurefill import CachedConvState
from ..core.stu import M_Y_MODES as M_Y_MODES
from ..core.stu import ORDERS as ORDERS
from ..core.stu import TRANSFER_MAX_ELEMENTS as TRANSFER_MAX_ELEMENTS
from ..core.stu import autoregressive_output, spectral_term, taps_foldable, tensordot_term
from ..core.stu import choose_order as choose_order
from ..core.stu import fold_input_taps as fold_input_taps
from ..core.stu import input_taps as input_taps
from ..core.stu import stu_kernels as stu_kernels
from .base import AbstractSequenceLayer, register_layer, width_argument
from .frozen import FrozenArray
from .stu_generation import STUStepper, STUStepState, make_stepper

INITS = ("zeros", "official", "normal")
DEFAULT_ORDER = "auto"  # "transfer" unless its weights would be large; fastest in benchmarks/bench_stu.py


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


class SpectralBank(eqx.Module):
    """The frozen filters of an STU built for `seq_len`: σ [K] and rfft(κ, n) stored as [2, n//2+1, J].

    Both are static `FrozenArray`s (role "frozen"), not pytree leaves, so no optimiser, `grad` or
    checkpoint sees them; they are constants shared by every call and batch element under `jit`.
    """

    sigma: FrozenArray = eqx.field(static=True, metadata={"role": "frozen"})  # [K] (see layers/frozen.py)
    filters_fft: FrozenArray = eqx.field(static=True, metadata={"role": "frozen"})  # [2, n//2+1, J]
    seq_len: int = eqx.field(static=True)
    fft_n: int = eqx.field(static=True)

    def spectrum(self, dtype) -> Array:
        """Complex kernel spectrum rfft(κ, n) [n//2+1, J] (a constant: no gradient flows into it)."""
        f = self.filters_fft.value(dtype)
        return lax.complex(f[0], f[1])


def spectral_bank(seq_len: int, num_filters: int, opts: STUOptions, dtype, use_cache: bool) -> SpectralBank:
    """Filters of Z (or Z_L) for `seq_len` (cached on disk), delayed and weighted into κ, transformed on the host."""
    sigma, phi = cached_spectral_filters(seq_len=seq_len, num_filters=num_filters, kind=opts.kind,
                                         use_cache=use_cache)
    n = fft_size(2 * seq_len - 1) if seq_len > 1 else 2
    spec = host_kernel_spectrum(stu_kernels(sigma, phi, filter_delay=opts.filter_delay, branches=opts.branches), n)
    host = _host_dtype(dtype)
    return SpectralBank(FrozenArray(np.asarray(sigma).astype(host)),
                        FrozenArray(np.stack([spec.real, spec.imag]).astype(host)), int(seq_len), n)


class AutoRegression(eqx.Module):
    """Input taps Σ_j u_{t-j} M^u_j and the output recurrence of eq. (4)/(6); one sub-module of `STU`, `STUApprox`.

    `m_u` [k_u, H_in, H_out] (None if k_u = 0); `m_y` [k_y, H_out, H_out] (learnable AR only; role
    "recurrent": Adam, no weight decay, reduced learning rate). `m_y_mode` "fixed_eq4" is eq. (4)'s
    ŷ_{t-2} recurrence, "learnable" eq. (6), "none" no recurrence; `ar_method` "scan" or "associative".
    """

    m_u: Float[Array, "ku Hin Hout"] | None
    m_y: Float[Array, "ky Hout Hout"] | None = eqx.field(metadata={"role": "recurrent"})  # official code: 0.1 LR
    m_y_mode: str = eqx.field(static=True)
    ar_method: str = eqx.field(static=True)

    def __call__(self, u: Array, delta: Array, dtype, *, taps: bool = True) -> Array:
        """ŷ from Δ: add the input taps (unless `taps` is False: already folded into Δ), then the recurrence."""
        m_u = self.m_u.astype(dtype) if self.m_u is not None and taps else None
        m_y = self.m_y.astype(dtype) if self.m_y is not None else None
        return autoregressive_output(u, delta, m_u=m_u, m_y=m_y, m_y_mode=self.m_y_mode, method=self.ar_method)


def autoregression(key, opts: STUOptions, d_in: int, d_out: int, dtype, ar_method: str) -> AutoRegression:
    """M^u (zeros, truncated normal for init "official", Gaussian for "normal") and M^y (M^y_2 = αI for "zeros")."""
    m_u = None
    if opts.k_u:
        shape = (opts.k_u, d_in, d_out)
        if opts.init == "official":  # truncated normal on [-2, 2] times d_out^{-1/2}
            m_u = jr.truncated_normal(key, -2.0, 2.0, shape, dtype) / float(np.sqrt(d_out))
        else:
            m_u = _init_matrix(key, shape, opts.init, dtype)
    m_y = None
    if opts.m_y_mode == "learnable":
        m_y = jnp.zeros((opts.k_y, d_out, d_out), dtype)
        if opts.init == "zeros" and opts.k_y >= 2:  # paper App. C.2: M^y_2 = αI, others 0
            m_y = m_y.at[1].set(opts.alpha * jnp.eye(d_out, dtype=dtype))
    return AutoRegression(m_u, m_y, opts.m_y_mode, ar_method)


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
    """Names of the frozen arrays of `STU` and `STUApprox` (fields of their `bank`, readable on the layer too)."""
    return fields_with_role(SpectralBank, "frozen")


class _SpectralLayer(AbstractSequenceLayer):
    """What STU and STUApprox share: their fields `bank` (`SpectralBank`), `ar` (`AutoRegression`) and
    `options` (`STUOptions`), read by name, and recurrent use through the routes of `layers.stu_generation`.

    The fields are declared in the final classes only, after their own weights, so the pytree leaves keep
    the order m_phi (or m_inputs, m_filters), m_u, m_y of the layers before the sub-modules existed and
    checkpoints written then load unchanged (base-class fields would come first).
    """

    @abc.abstractmethod
    def equivalent_m_phi(self) -> Float[Array, "J Hin Hout"]:
        """Spectral weights M_j of every kernel (plus branch, then minus) of the exact STU this layer equals."""

    sigma = property(lambda self: self.bank.sigma, doc="σ [K] of the filters (frozen).")
    filters_fft = property(lambda self: self.bank.filters_fft, doc="rfft(κ, n) as [2, n//2+1, J] (frozen).")
    seq_len = property(lambda self: self.bank.seq_len, doc="Longest input length (the filters' length).")
    fft_n = property(lambda self: self.bank.fft_n, doc="FFT size n >= 2 seq_len - 1.")
    m_u = property(lambda self: self.ar.m_u, doc="Input-tap weights M^u [k_u, H_in, H_out] or None.")
    m_y = property(lambda self: self.ar.m_y, doc="Output AR weights M^y [k_y, H_out, H_out] or None.")
    m_y_mode = property(lambda self: self.ar.m_y_mode, doc='"none", "fixed_eq4" or "learnable".')
    ar_method = property(lambda self: self.ar.ar_method, doc='"scan" or "associative".')

    def stepper(self, route: str = "exact", *, block: int | None = None, state_size: int | None = None) -> STUStepper:
        """This layer prepared for generation by `route` ("exact", "futurefill", "futurefill_epoched", "lds")."""
        m_phi = self.equivalent_m_phi()
        return make_stepper(filters_fft=self.bank.filters_fft.value(), m_phi=m_phi, m_u=self.ar.m_u,
                            m_y=self.ar.m_y, m_y_mode=self.ar.m_y_mode, n=self.bank.fft_n,
                            seq_len=self.bank.seq_len, route=route, block=block, state_size=state_size,
                            dtype=_work_dtype(m_phi, m_phi))

    def init_state(self) -> STUStepState:
        """State of the exact route: the last seq_len inputs and the last outputs, all zero."""
        return self.stepper().init_state()

    def step(self, state: STUStepState, u_t: Array) -> tuple[STUStepState, Array]:
        """One exact step of eq. (4)/(6) from the state of `init_state()` (O(seq_len) work) [STU, eq. (4)]."""
        return self.stepper().step(self._exact_state(state), u_t)

    def _exact_state(self, state) -> STUStepState:
        if not (isinstance(state, STUStepState) and isinstance(state.conv, CachedConvState)):
            raise TypeError(f"{type(self).__name__}.step and layer(u, state=...) take the exact route's state from "
                            "layer.init_state(); for FutureFill/LDS states use the matching layer.stepper(route=...).")
        return state

    def spectrum(self, dtype) -> Array:
        """Complex kernel spectrum rfft(κ, n) [n//2+1, J] (a constant: no gradient flows into it)."""
        return self.bank.spectrum(dtype)


class STU(_SpectralLayer):
    """Spectral Transform Unit, exact: paper eq. (4) (preset `paper_eq4`) and AR-STU eq. (6) [STU, §3-§5].

    Parameters (inspect them by name; row-vector convention u_t[i] M[i, o]):
    `m_phi_plus[K, H_in, H_out]`, `m_phi_minus[K, H_in, H_out]` (None for one branch), and in the
    `ar` sub-module (`AutoRegression`, also readable as `layer.m_u`, `layer.m_y`)
    `m_u[k_u, H_in, H_out]` (None if k_u = 0), `m_y[k_y, H_out, H_out]` (learnable AR only).
    Frozen (see `stu_frozen_fields()`), in the `bank` sub-module (`SpectralBank`, readable as
    `layer.sigma`, `layer.filters_fft`): `sigma[K]` and `filters_fft[2, n//2+1, J]`, the real and
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
    ar: AutoRegression
    bank: SpectralBank
    options: STUOptions = eqx.field(static=True)
    order: str = eqx.field(static=True)

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
        self.bank = spectral_bank(seq_len, num_filters, opts, dtype, use_cache)
        k_phi, k_minus, k_u = jr.split(key, 3)
        self.m_phi_plus = _init_matrix(k_phi, (num_filters, d_in, d_out), opts.init, dtype)
        self.m_phi_minus = (_init_matrix(k_minus, (num_filters, d_in, d_out), opts.init, dtype)
                            if opts.branches == "both" else None)
        self.ar = autoregression(k_u, opts, d_in, d_out, dtype, ar_method)
        self.options = opts
        self.order = choose_order(fft_n=self.bank.fft_n, d_in=d_in, d_out=d_out) if order == "auto" else order

    def with_methods(self, *, order: str | None = None, ar_method: str | None = None) -> STU:
        """The same layer (shared arrays) evaluated with another exact order and/or recurrence method."""
        order = self.order if order is None else order
        ar_method = self.ar.ar_method if ar_method is None else ar_method
        _check_methods(order, ar_method)
        if order == "auto":
            order = choose_order(fft_n=self.bank.fft_n, d_in=self.m_phi_plus.shape[1], d_out=self.m_phi_plus.shape[2])
        new = copy.copy(self)
        object.__setattr__(new, "order", order)
        object.__setattr__(new, "ar", dataclasses.replace(self.ar, ar_method=ar_method))
        return new

    @property
    def m_phi(self) -> Float[Array, "J Hin Hout"]:
        """Spectral weights of all kernels, plus branch then minus branch, matching `filters_fft`."""
        if self.m_phi_minus is None:
            return self.m_phi_plus
        return jnp.concatenate([self.m_phi_plus, self.m_phi_minus], axis=0)

    def equivalent_m_phi(self) -> Float[Array, "J Hin Hout"]:
        """`m_phi` (the exact STU is its own equivalent)."""
        return self.m_phi

    def __call__(self, u: Array, state: STUStepState | None = None):
        """Apply the layer to one sequence u [L, H_in] (L <= seq_len); returns [L, H_out]; with `state`: (y, state)."""
        if state is not None:
            return self.stepper()(u, self._exact_state(state))
        u = _check_input(u, self.m_phi_plus.shape[1], self.bank.seq_len)
        dtype = _work_dtype(u, self.m_phi_plus)
        x = u.astype(dtype)
        spectrum, m = self.bank.spectrum(dtype), self.m_phi.astype(dtype)
        # Taps inside W (free per sequence) when no delay can wrap around the circular FFT: j <= n - L.
        m_u = self.ar.m_u
        fold = (m_u is not None and self.order == "transfer"
                and taps_foldable(m_u.shape[0], n=self.bank.fft_n, seq_len=self.bank.seq_len))
        if fold:
            spectrum, m = fold_input_taps(spectrum, m, m_u.astype(dtype), n=self.bank.fft_n)
        delta = spectral_term(x, spectrum, m, n=self.bank.fft_n, order=self.order)
        return self.ar(x, delta, dtype, taps=not fold).astype(jnp.result_type(u, self.m_phi_plus))


class STUApprox(_SpectralLayer):
    r"""Tensordot-approximate STU (Flash STU's `use_approx`): a strictly smaller class than eq. (4).

    Output channel o is one causal convolution of (u M_in)_o with the channel's own filter
    Σ_k M_f[k, o] κ_k: Σ_k (κ_k * (u M_in)_o) M_f[k, o] (`core.stu.tensordot_term`). This equals the
    exact STU only for M^φ_k[i, o] = M_f[k, o] · M_in[i, o], rank one per output channel: parameters
    H_in·H_out + K·H_out per branch instead of K·H_in·H_out, and H_out + H_out transforms.
    Unlike flash-stu-2, the plus and minus branches have separate `m_filters_*`, so odd lags are
    not cancelled. `m_inputs` starts Gaussian (std H_in^{-1/2}) and `m_filters_*` at zero under
    init "zeros" (both at zero would be a saddle with zero gradient).
    Input/output auto-regression (the `ar` sub-module, `m_u`, `m_y`) and the frozen `bank` are those of `STU`.
    """

    m_inputs: Float[Array, "Hin Hout"]
    m_filters_plus: Float[Array, "K Hout"]
    m_filters_minus: Float[Array, "K Hout"] | None
    ar: AutoRegression
    bank: SpectralBank
    options: STUOptions = eqx.field(static=True)

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
        self.bank = spectral_bank(seq_len, num_filters, opts, dtype, use_cache)
        k_in, k_plus, k_minus, k_u = jr.split(key, 4)
        self.m_inputs = jr.normal(k_in, (d_in, d_out), dtype) / float(np.sqrt(d_in))
        self.m_filters_plus = _init_matrix(k_plus, (num_filters, d_out), opts.init, dtype)
        self.m_filters_minus = (_init_matrix(k_minus, (num_filters, d_out), opts.init, dtype)
                                if opts.branches == "both" else None)
        self.ar = autoregression(k_u, opts, d_in, d_out, dtype, ar_method)
        self.options = opts

    @property
    def m_filters(self) -> Float[Array, "J Hout"]:
        """Per-channel filter mixing weights of all kernels (plus, then minus)."""
        if self.m_filters_minus is None:
            return self.m_filters_plus
        return jnp.concatenate([self.m_filters_plus, self.m_filters_minus], axis=0)

    def equivalent_m_phi(self) -> Float[Array, "J Hin Hout"]:
        """The exact-STU weights this layer equals: M^φ_j[i, o] = M_f[j, o] M_in[i, o] (rank one per o)."""
        return self.m_filters[:, None, :] * self.m_inputs[None, :, :]

    def __call__(self, u: Array, state: STUStepState | None = None):
        """Apply the layer to one sequence u [L, H_in] (L <= seq_len); returns [L, H_out]; with `state`: (y, state)."""
        if state is not None:
            return self.stepper()(u, self._exact_state(state))
        u = _check_input(u, self.m_inputs.shape[0], self.bank.seq_len)
        dtype = _work_dtype(u, self.m_inputs)
        x = u.astype(dtype)
        delta = tensordot_term(x, self.bank.spectrum(dtype), self.m_inputs.astype(dtype),
                               self.m_filters.astype(dtype), n=self.bank.fft_n)
        return self.ar(x, delta, dtype).astype(jnp.result_type(u, self.m_inputs))


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
