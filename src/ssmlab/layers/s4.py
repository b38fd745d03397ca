r"""S4: H independent DPLR state-space models with HiPPO-LegS initialisation [S4, §3].

Per channel h (N states, N/2 conjugate pairs stored, their conjugates implied):

    A = diag(Λ) - P P^*,   Λ = -exp(log_lambda_re) + i lambda_im   (Re Λ < 0 for every parameter value,
                                                                     so A + A^* ≤ 0: the system is dissipative),
    bilinear discretisation with Δ_h = exp(log_dt_h),
    K = dplr_kernel(Λ, P, B, C̃, Δ; L)      (Cauchy + Woodbury, `core.s4_kernel`, no power of A formed),
    y = causal_conv(u, K) + D ⊙ u            (zero-padded FFT: linear, not circular, convolution).

C̃ = C (I - Ā^L) is the trained readout, as in the S4 code: for an input of length L the layer is the
system with readout C = C̃ (I - Ā^L)^{-1}. Init: Λ, P, B from the DPLR form of HiPPO-LegS in the
normal part's eigenbasis (`core.hippo.legs_dplr`), identical in every channel; C̃ ~ CN(0, 1);
D ~ N(0, 1); log Δ ~ U[log dt_min, log dt_max] [S4, §3 and App. C; s4 code `kernels/ssm.py`].
Recurrent use needs the horizon L that C̃ refers to: build with `seq_len` (the registry passes it).
Then the state is x [H, N] complex (both halves of each conjugate pair), stepped densely with
(Ā, B̄, C = C̃ (I - Ā^L)^{-1}) (`core.s4_kernel.dplr_step_system`, O(N²) per step and channel), and
the result equals the full call on inputs of length L = seq_len; chunked calls with a state use the
same seq_len system.
`RECURRENT_FIELDS` (log Δ, Λ, P, B) train with no weight decay and the SSM learning rate.
Only bilinear: ZOH has no Cauchy form for a DPLR matrix (see `core.s4_kernel`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax
from jaxtyping import Array, Complex, Float, PRNGKeyArray

from .._roles import fields_with_role
from ..core.fftconv import causal_conv
from ..core.hippo import legs_dplr
from ..core.s4_kernel import dplr_kernel, dplr_step_system
from .base import AbstractSequenceLayer, check_step_input, register_layer
from .spec import Dtype, LayerSpec, positive, register_spec


def check_sizes(d_model: int, state_size: int, dt_min: float, dt_max: float) -> None:
    """Raise ValueError unless d_model >= 1, state_size is even and >= 2, and 0 < dt_min <= dt_max."""
    if not isinstance(d_model, int) or d_model < 1:
        raise ValueError(f"d_model must be an integer >= 1; got {d_model!r}.")
    if not isinstance(state_size, int) or state_size < 2 or state_size % 2:
        raise ValueError(f"state_size must be an even N >= 2 (N/2 conjugate pairs are stored); got {state_size!r}.")
    if not 0.0 < dt_min <= dt_max:
        raise ValueError(f"need 0 < dt_min <= dt_max; got dt_min={dt_min}, dt_max={dt_max}. Swap them if reversed.")


def check_sequence(u, width: int) -> None:
    """Raise ValueError unless `u` is one sequence [L, H] with L >= 1 and H = `width`."""
    if u.ndim != 2 or u.shape[1] != width or u.shape[0] == 0:
        raise ValueError(f"u must have shape [L, H] with L >= 1 and H={width}; got {tuple(u.shape)}. "
                         "Use jax.vmap(layer) for batches.")


def _per_channel(x: np.ndarray, d_model: int, dtype) -> tuple[Array, Array]:
    tiled = np.broadcast_to(x[None, :], (d_model, x.shape[0]))
    return jnp.asarray(tiled.real, dtype), jnp.asarray(tiled.imag, dtype)


class S4(AbstractSequenceLayer):
    """S4 layer: y = causal_conv(u, K_DPLR) + D ⊙ u with a HiPPO-LegS DPLR system per channel [S4, Alg. 1]."""

    log_dt: Float[Array, " H"] = eqx.field(metadata={"role": "recurrent"})
    log_lambda_re: Float[Array, "H M"] = eqx.field(metadata={"role": "recurrent"})
    lambda_im: Float[Array, "H M"] = eqx.field(metadata={"role": "recurrent"})
    p_re: Float[Array, "H M"] = eqx.field(metadata={"role": "recurrent"})
    p_im: Float[Array, "H M"] = eqx.field(metadata={"role": "recurrent"})
    b_re: Float[Array, "H M"] = eqx.field(metadata={"role": "recurrent"})
    b_im: Float[Array, "H M"] = eqx.field(metadata={"role": "recurrent"})
    c_re: Float[Array, "H M"]
    c_im: Float[Array, "H M"]
    d: Float[Array, " H"]
    seq_len: int | None = eqx.field(static=True)

    def __init__(
        self,
        *,
        d_model: int,
        state_size: int = 64,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        seq_len: int | None = None,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        """HiPPO-LegS DPLR init with `state_size` = N (N/2 pairs stored), log-uniform Δ, C̃ ~ CN(0, 1).

        `seq_len` is the horizon L of C̃ = C (I - Ā^L) used by `init_state`/`step`/chunked calls.
        """
        check_sizes(d_model, state_size, dt_min, dt_max)
        if seq_len is not None and (not isinstance(seq_len, int) or seq_len < 1):
            raise ValueError(f"seq_len must be a positive integer or None; got {seq_len!r}.")
        self.seq_len = seq_len
        dplr = legs_dplr(state_size, conj_half=True)
        k_dt, k_c1, k_c2, k_d = jr.split(key, 4)
        M = state_size // 2
        self.log_dt = jr.uniform(k_dt, (d_model,), dtype, math.log(dt_min), math.log(dt_max))
        # Re Λ = -1/2 for HiPPO-LegS, so log(-Re Λ) is finite
        self.log_lambda_re = jnp.asarray(np.broadcast_to(np.log(-dplr.lam.real), (d_model, M)), dtype)
        self.lambda_im = jnp.asarray(np.broadcast_to(dplr.lam.imag, (d_model, M)), dtype)
        self.p_re, self.p_im = _per_channel(dplr.p, d_model, dtype)
        self.b_re, self.b_im = _per_channel(dplr.b, d_model, dtype)
        scale = math.sqrt(0.5)
        self.c_re = scale * jr.normal(k_c1, (d_model, M), dtype)
        self.c_im = scale * jr.normal(k_c2, (d_model, M), dtype)
        self.d = jr.normal(k_d, (d_model,), dtype)

    @property
    def lam(self) -> Complex[Array, "H M"]:
        """Diagonal part Λ = -exp(log_lambda_re) + i lambda_im (Re Λ < 0 by construction)."""
        return -jnp.exp(self.log_lambda_re) + 1j * self.lambda_im

    @property
    def p(self) -> Complex[Array, "H M"]:
        """Low-rank vector P (A = diag(Λ) - P P^*)."""
        return self.p_re + 1j * self.p_im

    @property
    def b(self) -> Complex[Array, "H M"]:
        """Input vector B."""
        return self.b_re + 1j * self.b_im

    @property
    def c_tilde(self) -> Complex[Array, "H M"]:
        """Trained readout C̃ = C (I - Ā^L)."""
        return self.c_re + 1j * self.c_im

    def kernel(self, length: int) -> Float[Array, "L H"]:
        """Convolution kernel K [length, H] (D not included), one Cauchy/Woodbury evaluation per channel."""
        def one(lam, p, b, c, dt):
            return dplr_kernel(lam, p, b, c, dt, length=length)

        return jax.vmap(one)(self.lam, self.p, self.b, self.c_tilde, jnp.exp(self.log_dt)).T

    def step_system(self) -> tuple[Complex[Array, "H N N"], Complex[Array, "H N"], Complex[Array, "H N"]]:
        """Per-channel recurrent form (Ā, B̄, C) with C = C̃ (I - Ā^L)^{-1}, L = seq_len [S4, §3.4]."""
        if self.seq_len is None:
            raise ValueError("S4 needs the horizon L of its readout C̃ = C (I - Ā^L) to run recurrently: build it "
                             "with S4(..., seq_len=L) (make_layer passes seq_len).")

        def one(lam, p, b, c, dt):
            return dplr_step_system(lam, p, b, c, dt, length=self.seq_len)

        return jax.vmap(one)(self.lam, self.p, self.b, self.c_tilde, jnp.exp(self.log_dt))

    def init_state(self) -> Complex[Array, "H N"]:
        """Zero state [H, N] (complex, both halves of each pair, in the parameters' precision)."""
        if self.seq_len is None:
            self.step_system()  # raises the explanatory error
        return jnp.zeros((self.d.shape[0], 2 * self.lam.shape[1]), self.lam.dtype)

    @staticmethod
    def _advance(system, d, state, u_t):
        a_bar, b_bar, c = system
        x = (jnp.einsum("hnm,hm->hn", a_bar, state) + b_bar * u_t[:, None]).astype(state.dtype)
        return x, jnp.real(jnp.sum(c * x, axis=1)) + d * u_t

    def step(self, state: Complex[Array, "H N"], u_t: Float[Array, " H"]) -> tuple[Array, Float[Array, " H"]]:
        """x_k = Ā x_{k-1} + B̄ u_k, y_k = Re(C x_k) + D u_k with the seq_len system [S4, eq. (2)]."""
        u_t = check_step_input(self, u_t, self.d.shape[0])
        x, y = self._advance(self.step_system(), self.d, state, u_t)
        return x, y.astype(jnp.result_type(u_t, self.d))

    def __call__(self, u: Float[Array, "L H"], state: Complex[Array, "H N"] | None = None):
        """Apply the layer to one sequence [L, H]; use `jax.vmap(layer)` for batches. With `state`: (y, final x)."""
        check_sequence(u, self.d.shape[0])
        if state is not None:
            system = self.step_system()
            x, y = lax.scan(lambda s, u_t: self._advance(system, self.d, s, u_t), state, u)
            return y.astype(jnp.result_type(u, self.d)), x
        y = causal_conv(u, self.kernel(u.shape[0]).astype(u.dtype))
        return (y + self.d[None, :] * u).astype(jnp.result_type(u, self.d))


@register_layer("s4")
def _make_s4(*, d_model: int, seq_len: int, key, state_size: int = 64, **options) -> S4:
    return S4(d_model=d_model, state_size=state_size, seq_len=seq_len, key=key, **options)


RECURRENT_FIELDS = fields_with_role(S4, "recurrent")  # the fields declaring metadata role "recurrent"
"""Fields with their own learning rate and weight decay 0 [S4 code, kernels/kernel.py `register`]."""


@register_spec
@dataclasses.dataclass(frozen=True)
class S4Spec(LayerSpec):
    """Typed options of layer "s4" (`S4`; its seq_len is the model's)."""

    name: ClassVar[str] = "s4"
    state_size: int = 64
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dtype: Dtype = "float32"

    def check(self) -> None:
        positive(self, "state_size", "dt_min", "dt_max")
