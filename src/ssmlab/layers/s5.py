r"""S5: one MIMO diagonal SSM with P states shared across the H channels [S5, §3-4].

    Λ = -exp(log_lambda_re) + i lambda_im  [P/2],  Δ = exp(log_step)  [P/2],
    Λ̄ = exp(Δ Λ),  B̄ = (Λ̄ - 1)/Λ ⊙ B̃   (ZOH, per-state step)               [S5, eq. (6)],
    x_k = Λ̄ ⊙ x_{k-1} + B̄ u_k,   y_k = 2 Re(C̃ x_k) + D ⊙ u_k                 [S5, eqs. (2)-(3)].

The state is conjugate-symmetric: only the P/2 eigenvalues with Im Λ > 0 are stored, their conjugate
partners are implied, hence 2 Re. Init (S5 code `ssm_init.py`, `ssm.py`): Λ and V from the
eigendecomposition of HiPPO-N (optionally block-diagonal with `blocks` = J copies of size P/J,
`core.hippo.hippo_n_diagonal`); B ~ lecun-normal [P, H] and B̃ = V^* B; C ~ CN with real and
imaginary parts N(0, 1/P), C̃ = C V; D ~ N(0, 1); log Δ ~ U[log dt_min, log dt_max] per state.
Λ's real part is stored as a log so Re Λ < 0 for every parameter value (our choice; the S5 code
stores Re Λ and optionally clips it). The scan is `core.scan.linear_recurrence` (method "auto",
"sequential" or "associative"). `bidirectional`: the same Λ̄, B̄ on the reversed sequence with its
own readout C̃₂, y = 2 Re(C̃ x_fwd) + rev(2 Re(C̃₂ x_bwd)) + D u (S5 code `apply_ssm`).
Recurrent use: the state is x [P/2] complex; `step` is eqs. (2)-(3) once, `layer(u, state=x)` the
scan from x. Bidirectional layers refuse both.
`RECURRENT_FIELDS` (Λ, log Δ, B̃) train with no weight decay and the SSM learning rate (S5 scripts).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Complex, Float, PRNGKeyArray

from .._roles import fields_with_role
from ..core.discretize import zoh
from ..core.hippo import hippo_n_diagonal
from ..core.scan import linear_recurrence, resolve_method
from .base import AbstractSequenceLayer, check_step_input, refuse_bidirectional, register_layer
from .s4 import check_sequence, check_sizes
from .spec import Dtype, LayerSpec, ScanMethod, positive, register_spec


class S5(AbstractSequenceLayer):
    """S5 layer: x_k = Λ̄ x_{k-1} + B̄ u_k, y_k = 2 Re(C̃ x_k) + D u_k, conjugate-symmetric [S5, §3]."""

    log_lambda_re: Float[Array, " M"] = eqx.field(metadata={"role": "recurrent"})
    lambda_im: Float[Array, " M"] = eqx.field(metadata={"role": "recurrent"})
    log_step: Float[Array, " M"] = eqx.field(metadata={"role": "recurrent"})
    b_re: Float[Array, "M H"] = eqx.field(metadata={"role": "recurrent"})
    b_im: Float[Array, "M H"] = eqx.field(metadata={"role": "recurrent"})
    c_re: Float[Array, "H M"]
    c_im: Float[Array, "H M"]
    d: Float[Array, " H"]
    c2_re: Float[Array, "H M"] | None
    c2_im: Float[Array, "H M"] | None
    scan_method: str = eqx.field(static=True)

    def __init__(
        self,
        *,
        d_model: int,
        state_size: int = 64,
        blocks: int = 1,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        scan_method: str = "auto",
        bidirectional: bool = False,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        """HiPPO-N init with `state_size` = P (P/2 stored) in `blocks` diagonal blocks, log-uniform Δ per state."""
        check_sizes(d_model, state_size, dt_min, dt_max)
        resolve_method(scan_method)
        lam, v = hippo_n_diagonal(state_size, blocks=blocks)
        M = state_size // 2
        k_dt, k_b, k_c1, k_c2, k_d, k_e1, k_e2 = jr.split(key, 7)
        self.log_lambda_re = jnp.asarray(np.log(-lam.real), dtype)
        self.lambda_im = jnp.asarray(lam.imag, dtype)
        self.log_step = jr.uniform(k_dt, (M,), dtype, math.log(dt_min), math.log(dt_max))
        b = np.asarray(jr.normal(k_b, (state_size, d_model)))
        b_tilde = v.conj().T @ (b / math.sqrt(d_model))  # lecun-normal B, rotated: B̃ = V^* B
        self.b_re, self.b_im = jnp.asarray(b_tilde.real, dtype), jnp.asarray(b_tilde.imag, dtype)
        self.c_re, self.c_im = self._readout(k_c1, k_c2, v, d_model, dtype)
        self.d = jr.normal(k_d, (d_model,), dtype)
        self.c2_re, self.c2_im = self._readout(k_e1, k_e2, v, d_model, dtype) if bidirectional else (None, None)
        self.scan_method = scan_method

    @staticmethod
    def _readout(k_re, k_im, v: np.ndarray, d_model: int, dtype) -> tuple[Array, Array]:
        """C̃ = C V with C [H, P] complex, real and imaginary parts N(0, 1/P)."""
        P = v.shape[0]
        c = (np.asarray(jr.normal(k_re, (d_model, P))) + 1j * np.asarray(jr.normal(k_im, (d_model, P)))) / math.sqrt(P)
        c_tilde = c @ v
        return jnp.asarray(c_tilde.real, dtype), jnp.asarray(c_tilde.imag, dtype)

    @property
    def lam(self) -> Complex[Array, " M"]:
        """Continuous-time eigenvalues Λ = -exp(log_lambda_re) + i lambda_im (Re Λ < 0)."""
        return -jnp.exp(self.log_lambda_re) + 1j * self.lambda_im

    def discretized(self) -> tuple[Complex[Array, " M"], Complex[Array, "M H"]]:
        """(Λ̄, B̄) by ZOH with the per-state step Δ = exp(log_step) [S5, eq. (6)]."""
        return zoh(self.lam, self.b_re + 1j * self.b_im, jnp.exp(self.log_step))

    def _states(self, u: Float[Array, "L H"], x0: Complex[Array, " M"] | None = None) -> Complex[Array, "L M"]:
        lam_bar, b_bar = self.discretized()
        return linear_recurrence(lam_bar, u @ b_bar.T, x0=x0, method=self.scan_method)

    def init_state(self) -> Complex[Array, " M"]:
        """Zero state [P/2] (complex, in the parameters' precision); refused when bidirectional."""
        if self.c2_re is not None:
            refuse_bidirectional(self, "run step by step")
        lam_bar, b_bar = self.discretized()
        return jnp.zeros(lam_bar.shape, jnp.result_type(lam_bar, b_bar, self.c_re))

    def step(self, state: Complex[Array, " M"], u_t: Float[Array, " H"]) -> tuple[Array, Float[Array, " H"]]:
        """x_k = Λ̄ ⊙ x_{k-1} + B̄ u_k, y_k = 2 Re(C̃ x_k) + D ⊙ u_k [S5, eqs. (2)-(3)]."""
        if self.c2_re is not None:
            refuse_bidirectional(self, "run step by step")
        u_t = check_step_input(self, u_t, self.d.shape[0])
        lam_bar, b_bar = self.discretized()
        x = (lam_bar * state + b_bar @ u_t).astype(state.dtype)
        y = 2.0 * jnp.real((self.c_re + 1j * self.c_im) @ x) + self.d * u_t
        return x, y.astype(jnp.result_type(u_t, self.d))

    def __call__(self, u: Float[Array, "L H"], state: Complex[Array, " M"] | None = None):
        """Apply the layer to one sequence [L, H]; use `jax.vmap(layer)` for batches. With `state`: (y, final x)."""
        check_sequence(u, self.d.shape[0])
        if state is not None:
            if self.c2_re is not None:
                refuse_bidirectional(self, "stream chunks with a state")
            x = self._states(u, state).astype(state.dtype)
            y = 2.0 * jnp.real(x @ (self.c_re + 1j * self.c_im).T) + self.d[None, :] * u
            return y.astype(jnp.result_type(u, self.d)), x[-1]
        y = 2.0 * jnp.real(self._states(u) @ (self.c_re + 1j * self.c_im).T)
        if self.c2_re is not None:
            y = y + 2.0 * jnp.real(self._states(u[::-1]) @ (self.c2_re + 1j * self.c2_im).T)[::-1]
        return (y + self.d[None, :] * u).astype(jnp.result_type(u, self.d))


@register_layer("s5")
def _make_s5(*, d_model: int, seq_len: int, key, state_size: int = 64, **options) -> S5:
    return S5(d_model=d_model, state_size=state_size, key=key, **options)


RECURRENT_FIELDS = fields_with_role(S5, "recurrent")  # the fields declaring metadata role "recurrent"
"""Fields with Adam, no weight decay and the SSM learning rate [S5 code, train_helpers.py]."""


@register_spec
@dataclasses.dataclass(frozen=True)
class S5Spec(LayerSpec):
    """Typed options of layer "s5" (`S5`)."""

    name: ClassVar[str] = "s5"
    state_size: int = 64
    blocks: int = 1
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    scan_method: ScanMethod = "auto"
    bidirectional: bool = False
    dtype: Dtype = "float32"

    def check(self) -> None:
        positive(self, "state_size", "blocks", "dt_min", "dt_max")
