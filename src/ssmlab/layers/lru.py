r"""Linear Recurrent Unit (LRU) [LRU, §3].

    x_k = diag(λ) x_{k-1} + γ ⊙ (B u_k),    y_k = Re(C x_k) + D ⊙ u_k,    x_{-1} = 0

with the stable exponential parameterisation λ = exp(-exp(ν_log) + i exp(θ_log)) (so |λ| < 1 for
every real ν_log), γ = exp(γ_log) initialised to sqrt(1 - |λ|²) and then trained on its own, and
the ring initialisation |λ|² ~ U[r_min², r_max²], arg λ ~ U[0, max_phase).

Two evaluations of the same map (they agree to ~1e-12 in float64, see the tests):

* ``recurrent``: diagonal scan over time (`core.scan`, associative or sequential), O(L N).
* ``convolution``: kernel K_j = Re(C diag(λ^j γ) B) materialised, then MIMO causal FFT convolution.

Recurrent use: the state is x [N] complex; `step` is one application of eq. (7) and
`layer(u, state=x)` the recurrence from x (in either mode). Bidirectional LRUs refuse both.

Optimiser groups: `RECURRENT_FIELDS` (ν, θ, γ, B) are the ones the LRU code trains with plain Adam,
no weight decay and a reduced learning rate; they declare it on the field
(`eqx.field(metadata={"role": "recurrent"})`), which `ssmlab.train.optim` reads.
In float32, |λ| rounds to exactly 1.0 once exp(ν_log) < ~3e-8 (ν_log < ~-17.3); it never exceeds 1.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Complex, Float, Num, PRNGKeyArray

from .._roles import fields_with_role
from ..core.checks import as_inexact, check_float_dtype, check_positive_int
from ..core.fftconv import causal_conv_mixing
from ..core.kernels import ssm_kernel
from ..core.scan import linear_recurrence
from .base import AbstractSequenceLayer, check_step_input, refuse_bidirectional, register_layer
from .spec import Dtype, LayerSpec, ScanMethod, positive, register_spec

_MODES = ("recurrent", "convolution")


def lru_eigenvalues(nu_log: Float[Array, " N"], theta_log: Float[Array, " N"]) -> Complex[Array, " N"]:
    """λ = exp(-exp(ν_log) + i·exp(θ_log)), |λ| = exp(-exp(ν_log)) < 1 [LRU, §3.2, eq. (6)]."""
    return jnp.exp(-jnp.exp(nu_log) + 1j * jnp.exp(theta_log))


def ring_init(
    key: PRNGKeyArray, *, state_size: int, r_min: float, r_max: float, max_phase: float, dtype=jnp.float32
) -> tuple[Float[Array, " N"], Float[Array, " N"]]:
    """(ν_log, θ_log) with |λ|² ~ U[r_min², r_max²] and arg λ ~ U[0, max_phase) [LRU, Lemma 3.2].

    ν_log = log(-½ log(u₁ (r_max² - r_min²) + r_min²)),  θ_log = log(max_phase · u₂),  u₁, u₂ ~ U[0, 1).
    u₁, u₂ are clamped to >= 1e-12 so that r_min = 0 or u₂ = 0 never gives log 0 (our choice).
    """
    k1, k2 = jr.split(key)
    u1 = jnp.maximum(jr.uniform(k1, (state_size,), dtype), 1e-12)
    u2 = jnp.maximum(jr.uniform(k2, (state_size,), dtype), 1e-12)
    mag2 = u1 * (r_max**2 - r_min**2) + r_min**2
    nu_log = jnp.log(-0.5 * jnp.log(mag2))
    theta_log = jnp.log(max_phase * u2)
    return nu_log.astype(dtype), theta_log.astype(dtype)


def gamma_log_init(nu_log: Float[Array, " N"]) -> Float[Array, " N"]:
    """γ_log = log sqrt(1 - |λ|²) = ½ log(-expm1(-2 exp(ν_log))) [LRU, §3.3, eq. (7)]."""
    return 0.5 * jnp.log(-jnp.expm1(-2.0 * jnp.exp(nu_log)))


def replace_static(module: eqx.Module, **changes) -> eqx.Module:
    """A copy of `module` with some (static) fields replaced, without re-running its initialiser."""
    new = object.__new__(type(module))
    for f in dataclasses.fields(module):
        object.__setattr__(new, f.name, changes.pop(f.name, getattr(module, f.name)))
    if changes:
        raise ValueError(f"unknown fields {sorted(changes)} for {type(module).__name__}.")
    return new


def _check_ring(r_min: float, r_max: float, max_phase: float) -> None:
    if not 0.0 <= r_min < r_max <= 1.0:
        raise ValueError(f"need 0 <= r_min < r_max <= 1 for the ring init; got r_min={r_min}, r_max={r_max}.")
    if not max_phase > 0.0:
        raise ValueError(f"max_phase must be > 0 (radians, e.g. 6.28); got {max_phase}.")


class LRU(AbstractSequenceLayer):
    """Linear Recurrent Unit: y = Re(C x) + D ⊙ u, x_k = λ ⊙ x_{k-1} + γ ⊙ B u_k [LRU, eq. (7)]."""

    nu_log: Float[Array, " N"] = eqx.field(metadata={"role": "recurrent"})
    theta_log: Float[Array, " N"] = eqx.field(metadata={"role": "recurrent"})
    gamma_log: Float[Array, " N"] = eqx.field(metadata={"role": "recurrent"})
    b_re: Float[Array, "N H"] = eqx.field(metadata={"role": "recurrent"})
    b_im: Float[Array, "N H"] = eqx.field(metadata={"role": "recurrent"})
    c_re: Float[Array, "H N"]
    c_im: Float[Array, "H N"]
    d: Float[Array, " H"]
    c2_re: Float[Array, "H N"] | None
    c2_im: Float[Array, "H N"] | None
    mode: str = eqx.field(static=True)
    scan_method: str = eqx.field(static=True)

    def __init__(
        self,
        *,
        state_size: int,
        d_model: int,
        r_min: float = 0.0,
        r_max: float = 1.0,
        max_phase: float = 6.28,
        mode: str = "recurrent",
        scan_method: str = "auto",
        bidirectional: bool = False,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        """Ring init of λ, γ = sqrt(1 - |λ|²), B ~ CN(0, 1/H), C ~ CN(0, 2/N), D ~ N(0, 1) [LRU code].

        `bidirectional` (S5 style, our choice): the same λ, γ, B run on the reversed sequence with
        their own readout C2, y = Re(C x_fwd) + rev(Re(C2 x_bwd)) + D u (non-causal).
        """
        check_positive_int("state_size", state_size)
        check_positive_int("d_model", d_model)
        check_float_dtype("dtype", dtype)
        _check_ring(r_min, r_max, max_phase)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}; got {mode!r}.")
        k_ring, k_b1, k_b2, k_c1, k_c2, k_d, k_e1, k_e2 = jr.split(key, 8)
        self.nu_log, self.theta_log = ring_init(k_ring, state_size=state_size, r_min=r_min, r_max=r_max,
                                                max_phase=max_phase, dtype=dtype)
        self.gamma_log = gamma_log_init(self.nu_log)
        b_scale = 1.0 / jnp.sqrt(2.0 * d_model)
        c_scale = 1.0 / jnp.sqrt(state_size)
        self.b_re = b_scale * jr.normal(k_b1, (state_size, d_model), dtype)
        self.b_im = b_scale * jr.normal(k_b2, (state_size, d_model), dtype)
        self.c_re = c_scale * jr.normal(k_c1, (d_model, state_size), dtype)
        self.c_im = c_scale * jr.normal(k_c2, (d_model, state_size), dtype)
        self.d = jr.normal(k_d, (d_model,), dtype)
        self.c2_re = c_scale * jr.normal(k_e1, (d_model, state_size), dtype) if bidirectional else None
        self.c2_im = c_scale * jr.normal(k_e2, (d_model, state_size), dtype) if bidirectional else None
        self.mode = mode
        self.scan_method = scan_method

    @property
    def eigenvalues(self) -> Complex[Array, " N"]:
        """Diagonal recurrence λ (complex, |λ| < 1)."""
        return lru_eigenvalues(self.nu_log, self.theta_log)

    @property
    def b_normalised(self) -> Complex[Array, "N H"]:
        """γ ⊙ B: the input matrix with the normalisation folded in."""
        return jnp.exp(self.gamma_log)[:, None] * (self.b_re + 1j * self.b_im)

    @property
    def c(self) -> Complex[Array, "H N"]:
        """Complex readout C."""
        return self.c_re + 1j * self.c_im

    def kernel(self, length: int, c: Array | None = None) -> Float[Array, "L H H"]:
        """K_j = Re(C diag(λ^j γ) B), j < length (D not included; `c` overrides C) [LRU, by unrolling eq. (7)]."""
        return jnp.real(ssm_kernel(self.eigenvalues, self.b_normalised, self.c if c is None else c, length=length))

    def _causal(self, u: Float[Array, "L H"], c: Array) -> Float[Array, "L H"]:
        if self.mode == "recurrent":
            x = linear_recurrence(self.eigenvalues, u @ self.b_normalised.T, method=self.scan_method)
            return jnp.real(x @ c.T)
        return causal_conv_mixing(u, self.kernel(u.shape[0], c))

    def with_mode(self, mode: str, scan_method: str | None = None) -> LRU:
        """The same parameters evaluated in another mode (and optionally another scan method)."""
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}; got {mode!r}.")
        return replace_static(self, mode=mode, scan_method=scan_method or self.scan_method)

    def init_state(self) -> Complex[Array, " N"]:
        """Zero state x_{-1} [N] (complex, in the parameters' precision); refused when bidirectional."""
        if self.c2_re is not None:
            refuse_bidirectional(self, "run step by step")
        return jnp.zeros(self.nu_log.shape, jnp.result_type(self.eigenvalues, self.b_normalised))

    def step(self, state: Complex[Array, " N"], u_t: Num[Array, " H"]) -> tuple[Array, Float[Array, " H"]]:
        """x_k = λ ⊙ x_{k-1} + γ ⊙ (B u_k), y_k = Re(C x_k) + D ⊙ u_k [LRU, eq. (7)]."""
        if self.c2_re is not None:
            refuse_bidirectional(self, "run step by step")
        u_t = check_step_input(self, u_t, self.d.shape[0])
        x = (self.eigenvalues * state + self.b_normalised @ u_t).astype(state.dtype)
        y = jnp.real(self.c @ x) + self.d * u_t
        return x, y.astype(jnp.result_type(u_t, self.d))

    def __call__(self, u: Num[Array, "L H"], state: Complex[Array, " N"] | None = None):
        """Apply the LRU to one sequence [L, H]; use `jax.vmap(layer)` for batches. With `state`: (y, final x)."""
        H = self.d.shape[0]
        u = as_inexact("u", u, complex_ok=False)
        if u.ndim != 2 or u.shape[1] != H or u.shape[0] == 0:
            raise ValueError(f"u must have shape [L, H] with L >= 1 and H={H}; got {tuple(u.shape)}. "
                             "Use jax.vmap(layer) for batches.")
        if state is not None:
            if self.c2_re is not None:
                refuse_bidirectional(self, "stream chunks with a state")
            x = linear_recurrence(self.eigenvalues, u @ self.b_normalised.T, x0=state,
                                  method=self.scan_method).astype(state.dtype)
            y = jnp.real(x @ self.c.T) + self.d[None, :] * u
            return y.astype(jnp.result_type(u, self.d)), x[-1]
        y = self._causal(u, self.c)
        if self.c2_re is not None:
            y = y + self._causal(u[::-1], self.c2_re + 1j * self.c2_im)[::-1]
        return (y + self.d[None, :] * u).astype(jnp.result_type(u, self.d))


@register_layer("lru")
def _make_lru(*, d_model: int, seq_len: int, key, state_size: int = 64, **options) -> LRU:
    return LRU(state_size=state_size, d_model=d_model, key=key, **options)


RECURRENT_FIELDS = fields_with_role(LRU, "recurrent")  # the fields declaring metadata role "recurrent"
"""Fields trained with Adam, no weight decay and `lr_factor` x the learning rate [LRU code, train.py]."""


@register_spec
@dataclasses.dataclass(frozen=True)
class LRUSpec(LayerSpec):
    """Typed options of layer "lru" (`LRU`)."""

    name: ClassVar[str] = "lru"
    state_size: int = 64
    r_min: float = 0.0
    r_max: float = 1.0
    max_phase: float = 6.28
    mode: Literal["recurrent", "convolution"] = "recurrent"
    scan_method: ScanMethod = "auto"
    bidirectional: bool = False
    dtype: Dtype = "float32"

    def check(self) -> None:
        positive(self, "state_size")
