r"""S4D: H independent diagonal SISO state-space models, one per channel [S4D, §3].

Continuous system per channel h and mode n (N/2 modes stored, conjugates implied):

    A_n = -exp(log_a_real_n) + i a_imag_n   (Re A < 0 for every parameter value),
    Ā, B̄ = ZOH or bilinear discretisation with step dt_h = exp(log_dt_h),
    K_l = 2 Re Σ_n C_n B̄_n Ā_n^l,   l = 0..L-1   (Vandermonde, O(N L)),
    y = causal_conv(u, K) + D ⊙ u   (zero-padded FFT, so linear, not circular, convolution).

Recurrent use: the state is x [H, N/2] complex, x_k = Ā ⊙ x_{k-1} + B̄ u_k, y_k = 2 Re Σ_n C x_k + D u_k,
whose impulse response is the kernel above (ZOH or bilinear alike). Bidirectional layers refuse it.

Initialisations: S4D-Lin a_imag_n = π n, S4D-Inv a_imag_n = (N/π)(N/(2n+1) - 1), log_a_real = log ½,
B = 1, C ~ CN(0, 1), D ~ N(0, 1), log_dt ~ U[log dt_min, log dt_max] [S4D, §4; s4 code `s4d.py`].
`RECURRENT_FIELDS` (log_dt, A, B) get their own learning rate and no weight decay (s4 code
`kernels/kernel.py` `register`); the role is declared on the fields (`metadata={"role": "recurrent"}`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Literal

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Complex, Float, Num, PRNGKeyArray

from .._roles import fields_with_role
from ..core.checks import as_inexact, check_float_dtype, check_positive_int
from ..core.discretize import bilinear, zoh
from ..core.fftconv import causal_conv
from ..core.scan import linear_recurrence
from .base import AbstractSequenceLayer, check_step_input, refuse_bidirectional, register_layer
from .spec import Dtype, LayerSpec, positive, register_spec

_INITS = ("lin", "inv")
_DISC = ("zoh", "bilinear")


def s4d_imag_init(*, state_size: int, init: str) -> Float[Array, " M"]:
    """Im A_n for n < N/2: S4D-Lin π n, S4D-Inv (N/π)(N/(2n+1) - 1) [S4D, §4.1, eqs. (8)-(9)]."""
    if init not in _INITS:
        raise ValueError(f"init must be one of {_INITS}; got {init!r}.")
    n = jnp.arange(state_size // 2, dtype=jnp.float32)
    if init == "lin":
        return math.pi * n
    return (state_size / math.pi) * (state_size / (2.0 * n + 1.0) - 1.0)


def s4d_kernel(
    a: Complex[Array, "H M"], b: Complex[Array, "H M"], c: Complex[Array, "H M"], dt: Float[Array, " H"], *,
    length: int, discretization: str = "zoh",
) -> Float[Array, "L H"]:
    """K_l[h] = 2 Re Σ_n C_hn B̄_hn Ā_hn^l with Ā = exp(dt A) or (1 + dt A/2)/(1 - dt A/2) [S4D, eq. (5)].

    The powers come from the Vandermonde matrix exp(l · log Ā); for ZOH log Ā = dt A exactly.
    """
    if discretization not in _DISC:
        raise ValueError(f"discretization must be one of {_DISC}; got {discretization!r}.")
    H, M = a.shape
    dt_full = jnp.broadcast_to(dt[:, None], (H, M)).reshape(-1)
    step = zoh if discretization == "zoh" else bilinear
    a_bar, b_bar = step(a.reshape(-1), b.reshape(-1), dt_full)
    log_a_bar = dt_full * a.reshape(-1) if discretization == "zoh" else jnp.log(a_bar)
    ell = jnp.arange(length, dtype=jnp.real(log_a_bar).dtype)
    vander = jnp.exp(log_a_bar[None, :] * ell[:, None])  # [L, H*M]
    weights = (c.reshape(-1) * b_bar)[None, :]
    return 2.0 * jnp.real(vander * weights).reshape(length, H, M).sum(axis=2)


def discretized_modes(
    a: Complex[Array, "H M"], b: Complex[Array, "H M"], dt: Float[Array, " H"], *, discretization: str = "zoh"
) -> tuple[Complex[Array, "H M"], Complex[Array, "H M"]]:
    """(Ā, B̄) per channel and mode, for the recurrent reference x_k = Ā x_{k-1} + B̄ u_k [S4D, eq. (4)]."""
    H, M = a.shape
    dt_full = jnp.broadcast_to(dt[:, None], (H, M)).reshape(-1)
    step = zoh if discretization == "zoh" else bilinear
    a_bar, b_bar = step(a.reshape(-1), b.reshape(-1), dt_full)
    return a_bar.reshape(H, M), b_bar.reshape(H, M)


class S4D(AbstractSequenceLayer):
    """Diagonal S4 layer: y = causal_conv(u, 2 Re Σ C B̄ Ā^l) + D ⊙ u, per channel [S4D, §3]."""

    log_dt: Float[Array, " H"] = eqx.field(metadata={"role": "recurrent"})
    log_a_real: Float[Array, "H M"] = eqx.field(metadata={"role": "recurrent"})
    a_imag: Float[Array, "H M"] = eqx.field(metadata={"role": "recurrent"})
    b_re: Float[Array, "H M"] = eqx.field(metadata={"role": "recurrent"})
    b_im: Float[Array, "H M"] = eqx.field(metadata={"role": "recurrent"})
    c_re: Float[Array, "H M"]
    c_im: Float[Array, "H M"]
    d: Float[Array, " H"]
    c2_re: Float[Array, "H M"] | None
    c2_im: Float[Array, "H M"] | None
    discretization: str = eqx.field(static=True)

    def __init__(
        self,
        *,
        d_model: int,
        state_size: int = 64,
        init: str = "lin",
        discretization: str = "zoh",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        bidirectional: bool = False,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        """S4D-Lin/Inv init with `state_size` = N (N/2 complex modes stored) and log-uniform dt.

        `bidirectional` adds a second readout C2 applied to the reversed sequence (same A, B, dt):
        y = K * u + rev(K2 * rev(u)) + D u, with K2 built from C2 (S5-style, our choice; non-causal).
        """
        check_positive_int("d_model", d_model)
        check_positive_int("state_size", state_size)
        check_float_dtype("dtype", dtype)
        if state_size < 2 or state_size % 2:
            raise ValueError(f"state_size must be an even N >= 2 (N/2 conjugate pairs); got {state_size}.")
        if not 0.0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max; got dt_min={dt_min}, dt_max={dt_max}.")
        if discretization not in _DISC:
            raise ValueError(f"discretization must be one of {_DISC}; got {discretization!r}.")
        M = state_size // 2
        k_dt, k_c1, k_c2, k_d, k_b1, k_b2 = jr.split(key, 6)
        self.log_dt = jr.uniform(k_dt, (d_model,), dtype, math.log(dt_min), math.log(dt_max))
        self.log_a_real = jnp.full((d_model, M), math.log(0.5), dtype)
        self.a_imag = jnp.broadcast_to(s4d_imag_init(state_size=state_size, init=init)[None, :],
                                       (d_model, M)).astype(dtype)
        self.b_re = jnp.ones((d_model, M), dtype)
        self.b_im = jnp.zeros((d_model, M), dtype)
        scale = math.sqrt(0.5)
        self.c_re = scale * jr.normal(k_c1, (d_model, M), dtype)
        self.c_im = scale * jr.normal(k_c2, (d_model, M), dtype)
        self.d = jr.normal(k_d, (d_model,), dtype)
        self.c2_re = scale * jr.normal(k_b1, (d_model, M), dtype) if bidirectional else None
        self.c2_im = scale * jr.normal(k_b2, (d_model, M), dtype) if bidirectional else None
        self.discretization = discretization

    @property
    def a(self) -> Complex[Array, "H M"]:
        """Continuous-time eigenvalues A = -exp(log_a_real) + i a_imag (Re A < 0 by construction)."""
        return -jnp.exp(self.log_a_real) + 1j * self.a_imag

    @property
    def b(self) -> Complex[Array, "H M"]:
        """Input vector B per channel."""
        return self.b_re + 1j * self.b_im

    @property
    def c(self) -> Complex[Array, "H M"]:
        """Output vector C per channel."""
        return self.c_re + 1j * self.c_im

    def kernel(self, length: int) -> Float[Array, "L H"]:
        """Convolution kernel K [length, H] (D not included)."""
        return s4d_kernel(self.a, self.b, self.c, jnp.exp(self.log_dt), length=length,
                          discretization=self.discretization)

    def _modes(self) -> tuple[Complex[Array, "H M"], Complex[Array, "H M"]]:
        if self.c2_re is not None:
            refuse_bidirectional(self, "run step by step or stream chunks with a state")
        return discretized_modes(self.a, self.b, jnp.exp(self.log_dt), discretization=self.discretization)

    def init_state(self) -> Complex[Array, "H M"]:
        """Zero state [H, N/2] (complex, in the parameters' precision); refused when bidirectional."""
        a_bar, b_bar = self._modes()
        return jnp.zeros(a_bar.shape, jnp.result_type(a_bar, b_bar, self.c))

    def step(self, state: Complex[Array, "H M"], u_t: Num[Array, " H"]) -> tuple[Array, Float[Array, " H"]]:
        """x_k = Ā x_{k-1} + B̄ u_k, y_k = 2 Re Σ_n C_n x_k,n + D u_k per channel [S4D, eq. (4)]."""
        a_bar, b_bar = self._modes()
        u_t = check_step_input(self, u_t, self.d.shape[0])
        x = (a_bar * state + b_bar * u_t[:, None]).astype(state.dtype)
        y = 2.0 * jnp.real(jnp.sum(self.c * x, axis=1)) + self.d * u_t
        return x, y.astype(jnp.result_type(u_t, self.d))

    def _stream(self, u: Float[Array, "L H"], state: Complex[Array, "H M"]):
        a_bar, b_bar = self._modes()
        H, M = a_bar.shape
        bu = (b_bar[None] * u[:, :, None]).reshape(u.shape[0], H * M)
        x = linear_recurrence(a_bar.reshape(-1), bu, x0=state.reshape(-1)).astype(state.dtype)
        x = x.reshape(u.shape[0], H, M)
        y = 2.0 * jnp.real(jnp.einsum("lhm,hm->lh", x, self.c)) + self.d[None, :] * u
        return y.astype(jnp.result_type(u, self.d)), x[-1]

    def __call__(self, u: Num[Array, "L H"], state: Complex[Array, "H M"] | None = None):
        """Apply the layer to one sequence [L, H]; use `jax.vmap(layer)` for batches. With `state`: (y, final x)."""
        H = self.d.shape[0]
        u = as_inexact("u", u, complex_ok=False)
        if u.ndim != 2 or u.shape[1] != H or u.shape[0] == 0:
            raise ValueError(f"u must have shape [L, H] with L >= 1 and H={H}; got {tuple(u.shape)}. "
                             "Use jax.vmap(layer) for batches.")
        if state is not None:
            return self._stream(u, state)
        y = causal_conv(u, self.kernel(u.shape[0]).astype(u.dtype))
        if self.c2_re is not None:
            k2 = s4d_kernel(self.a, self.b, self.c2_re + 1j * self.c2_im, jnp.exp(self.log_dt), length=u.shape[0],
                            discretization=self.discretization)
            y = y + causal_conv(u[::-1], k2.astype(u.dtype))[::-1]
        return (y + self.d[None, :] * u).astype(jnp.result_type(u, self.d))


@register_layer("s4d")
def _make_s4d(*, d_model: int, seq_len: int, key, state_size: int = 64, **options) -> S4D:
    return S4D(d_model=d_model, state_size=state_size, key=key, **options)


RECURRENT_FIELDS = fields_with_role(S4D, "recurrent")  # the fields declaring metadata role "recurrent"
"""Fields with their own learning rate and weight decay 0 [S4 code, kernels/kernel.py]."""


@register_spec
@dataclasses.dataclass(frozen=True)
class S4DSpec(LayerSpec):
    """Typed options of layer "s4d" (`S4D`)."""

    name: ClassVar[str] = "s4d"
    state_size: int = 64
    init: Literal["lin", "inv"] = "lin"
    discretization: Literal["zoh", "bilinear"] = "zoh"
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    bidirectional: bool = False
    dtype: Dtype = "float32"

    def check(self) -> None:
        positive(self, "state_size", "dt_min", "dt_max")
