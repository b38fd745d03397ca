r"""Plain diagonal linear SSM with three equivalent evaluations.

    x_t = diag(a) x_{t-1} + B u_t,    y_t = Re(C x_t) + D u_t,    x_{-1} = 0

`a` is real [N] or complex (stored as real and imaginary parts, so optimizers never see
complex leaves). Modes:

* ``recurrent``:   diagonal scan over time (`core.scan`), O(L N).
* ``convolution``: kernel Re(C a^t B) materialised, then causal FFT convolution.
* ``frequency``:   closed-form kernel spectrum Σ c b (1-(a w)^L)/(1-a w) on an n >= 2L-1 grid,
  times rfft(u): the exact causal output, never the circular one (see `core.kernels`).

Recurrent use: the state is x [N] (complex iff the parameters are), `step` applies the recurrence
once, and `layer(u, state=x)` runs the recurrence from x whatever the mode (the modes only differ
in how the stateless call is evaluated).

The parameters are direct (no reparameterisation): this is the model the learning-dynamics
theory analyses. The frequency mode assumes |a| < 1 and says so when it is not.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Num, PRNGKeyArray

from ..core.checks import as_inexact, check_float_dtype, check_positive_int, float_inputs, stable
from ..core.fftconv import causal_conv_mixing
from ..core.kernels import causal_output_frequency, ssm_kernel
from ..core.scan import linear_recurrence
from .base import AbstractSequenceLayer, check_step_input, register_layer, width_argument
from .spec import Dtype, LayerSpec, ScanMethod, positive, register_spec

Mode = Literal["recurrent", "convolution", "frequency"]
MODES = ("recurrent", "convolution", "frequency")


class LinearSSM(AbstractSequenceLayer):
    """Diagonal linear SSM y = Re(C (diag a)^t B) * u + D u, MIMO H_in -> H_out [LDyn, eq. (1)]."""

    a_re: Float[Array, " N"]
    a_im: Float[Array, " N"] | None
    b_re: Float[Array, "N Hin"]
    b_im: Float[Array, "N Hin"] | None
    c_re: Float[Array, "Hout N"]
    c_im: Float[Array, "Hout N"] | None
    d: Float[Array, "Hout Hin"] | None
    mode: str = eqx.field(static=True)
    scan_method: str = eqx.field(static=True)

    def __init__(
        self,
        *,
        state_size: int,
        d_model: int | None = None,
        d_out: int | None = None,
        complex_state: bool = False,
        use_d: bool = True,
        mode: str = "recurrent",
        scan_method: str = "sequential",
        r_min: float = 0.5,
        r_max: float = 0.99,
        dtype=jnp.float32,
        key: PRNGKeyArray,
        d_in: int | None = None,
    ):
        """Random stable init: |a| uniform in [r_min, r_max], random phase (complex) or sign (real).

        `d_model` is the input width H_in (`d_out` defaults to it); `d_in` is its deprecated alias.
        """
        d_in = width_argument("LinearSSM", d_model, d_in)
        _check_mode(mode)
        for name, v in (("state_size", state_size), ("d_model", d_in), ("d_out", d_in if d_out is None else d_out)):
            check_positive_int(name, v)
        check_float_dtype("dtype", dtype)
        if not 0.0 <= r_min <= r_max < 1.0:
            raise ValueError(f"need 0 <= r_min <= r_max < 1 for a stable init; got r_min={r_min}, r_max={r_max}.")
        d_out = d_in if d_out is None else d_out
        k = jr.split(key, 7)
        radius = jr.uniform(k[0], (state_size,), dtype, r_min, r_max)
        if complex_state:
            phase = jr.uniform(k[1], (state_size,), dtype, 0.0, jnp.pi)
            self.a_re, self.a_im = radius * jnp.cos(phase), radius * jnp.sin(phase)
        else:
            sign = jnp.where(jr.bernoulli(k[1], 0.5, (state_size,)), 1.0, -1.0).astype(dtype)
            self.a_re, self.a_im = radius * sign, None
        scale_b, scale_c = 1.0 / jnp.sqrt(d_in), 1.0 / jnp.sqrt(state_size)
        self.b_re = scale_b * jr.normal(k[2], (state_size, d_in), dtype)
        self.c_re = scale_c * jr.normal(k[3], (d_out, state_size), dtype)
        self.b_im = scale_b * jr.normal(k[4], (state_size, d_in), dtype) if complex_state else None
        self.c_im = scale_c * jr.normal(k[5], (d_out, state_size), dtype) if complex_state else None
        self.d = jr.normal(k[6], (d_out, d_in), dtype) / jnp.sqrt(d_in) if use_d else None
        self.mode = mode
        self.scan_method = scan_method

    @classmethod
    def from_arrays(cls, a, b, c, d=None, *, mode: str = "recurrent", scan_method: str = "sequential") -> LinearSSM:
        """Build from explicit a [N], B [N, Hin], C [Hout, N] (real or complex) and optional D [Hout, Hin]."""
        _check_mode(mode)
        (a, b, c), _ = float_inputs(("a", a), ("b", b), ("c", c))  # integers -> float
        d = None if d is None else as_inexact("d", d, complex_ok=False)
        if a.ndim != 1 or b.ndim != 2 or c.ndim != 2 or b.shape[0] != a.shape[0] or c.shape[1] != a.shape[0]:
            raise ValueError(
                f"expected a [N], b [N, Hin], c [Hout, N]; got a {tuple(a.shape)}, b {tuple(b.shape)}, "
                f"c {tuple(c.shape)}."
            )
        if d is not None and d.shape != (c.shape[0], b.shape[1]):
            raise ValueError(f"d must have shape [Hout, Hin]={(c.shape[0], b.shape[1])}; got {tuple(d.shape)}.")
        self = object.__new__(cls)
        cplx = any(jnp.iscomplexobj(x) for x in (a, b, c))
        object.__setattr__(self, "a_re", jnp.real(a))
        object.__setattr__(self, "a_im", jnp.imag(a) if cplx else None)
        object.__setattr__(self, "b_re", jnp.real(b))
        object.__setattr__(self, "b_im", jnp.imag(b) if cplx else None)
        object.__setattr__(self, "c_re", jnp.real(c))
        object.__setattr__(self, "c_im", jnp.imag(c) if cplx else None)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "scan_method", scan_method)
        return self

    def with_mode(self, mode: str, scan_method: str | None = None) -> LinearSSM:
        """The same system evaluated in another mode (and optionally another scan method)."""
        return LinearSSM.from_arrays(self.a, self.b, self.c, self.d, mode=mode,
                                     scan_method=scan_method or self.scan_method)

    @property
    def a(self) -> Array:
        """Diagonal of A (complex if the state is complex)."""
        return self.a_re if self.a_im is None else self.a_re + 1j * self.a_im

    @property
    def b(self) -> Array:
        """Input matrix B [N, Hin]."""
        return self.b_re if self.b_im is None else self.b_re + 1j * self.b_im

    @property
    def c(self) -> Array:
        """Output matrix C [Hout, N]."""
        return self.c_re if self.c_im is None else self.c_re + 1j * self.c_im

    def kernel(self, length: int) -> Float[Array, "L Hout Hin"]:
        """Real impulse response Re(C diag(a)^t B), t < length (D not included)."""
        return jnp.real(ssm_kernel(self.a, self.b, self.c, length=length))

    def init_state(self) -> Num[Array, " N"]:
        """Zero state x_{-1} [N], complex iff A, B or C is, in the parameters' precision."""
        return jnp.zeros(self.a_re.shape, jnp.result_type(self.a, self.b, self.c))

    def step(self, state: Num[Array, " N"], u_t: Num[Array, " Hin"]) -> tuple[Array, Float[Array, " Hout"]]:
        """x_t = a ⊙ x_{t-1} + B u_t, y_t = Re(C x_t) + D u_t [LDyn, eq. (1)]."""
        u_t = check_step_input(self, u_t, self.b_re.shape[1])
        x = (self.a * state + self.b @ u_t).astype(state.dtype)
        y = jnp.real(self.c @ x)
        if self.d is not None:
            y = y + self.d @ u_t
        return x, y.astype(jnp.result_type(u_t, self.b_re))

    def __call__(self, u: Num[Array, "..."], state: Num[Array, " N"] | None = None):
        """Apply the SSM to one sequence [L, Hin] in the configured mode; with `state`: (y, final state)."""
        u = as_inexact("u", u, complex_ok=False)
        if u.ndim != 2 or u.shape[1] != self.b_re.shape[1] or u.shape[0] == 0:
            raise ValueError(
                f"u must have shape [L, Hin] with L >= 1 and Hin={self.b_re.shape[1]}; got {tuple(u.shape)}. "
                "Use jax.vmap(layer) for batches."
            )
        x = None
        if state is not None:
            x = linear_recurrence(self.a, u @ self.b.T, x0=state, method=self.scan_method).astype(state.dtype)
            y = jnp.real(x @ self.c.T)
        elif self.mode == "recurrent":
            y = jnp.real(linear_recurrence(self.a, u @ self.b.T, method=self.scan_method) @ self.c.T)
        elif self.mode == "convolution":
            y = causal_conv_mixing(u, self.kernel(u.shape[0]))
        else:
            # Eagerly a ValueError; inside jit an equinox.error_if with the same message.
            a = stable("a", self.a, hint="LinearSSM frequency mode needs |a| < 1; use mode='recurrent'.")
            y = causal_output_frequency(a, self.b, self.c, u)
        if self.d is not None:
            y = y + u @ self.d.T
        y = y.astype(jnp.result_type(u, self.b_re))
        return y if state is None else (y, x[-1])


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}.")


@register_layer("linear_ssm")
def _make_linear_ssm(*, d_model: int, seq_len: int, key, state_size: int = 64, **options) -> LinearSSM:
    return LinearSSM(state_size=state_size, d_model=d_model, complex_state=options.pop("complex_state", True),
                     key=key, **options)


@register_spec
@dataclasses.dataclass(frozen=True)
class LinearSSMSpec(LayerSpec):
    """Typed options of layer "linear_ssm" (`LinearSSM`; the factory's default state is complex)."""

    name: ClassVar[str] = "linear_ssm"
    state_size: int = 64
    complex_state: bool = True
    use_d: bool = True
    mode: Literal["recurrent", "convolution", "frequency"] = "recurrent"
    scan_method: ScanMethod = "sequential"
    r_min: float = 0.5
    r_max: float = 0.99
    dtype: Dtype = "float32"

    def check(self) -> None:
        positive(self, "state_size")
