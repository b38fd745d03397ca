r"""Step-by-step STU (and STUApprox, AR-STU) by three routes: exact cached, FutureFill (exact), distilled LDS.

One step of eq. (4)/(6) (row-vector convention, Δ the spectral term, T_l = Σ_j κ_j(l) M^φ_j):

    Δ_t = Σ_{l<L} u_{t-l} T_l,   ŷ_t = Δ_t + Σ_{j<k_u} u_{t-j} M^u_j + Σ_{j=1}^{k_y} ŷ_{t-j} M^y_j

(eq. (4) has M^y = (0, I)). The input taps and the output recurrence are O(1) per step and kept in
small buffers; the routes only differ in how Δ_t is produced (`core.futurefill`, `core.lds_distill`):

* ``exact``: cached convolution over the last L inputs, O(L) per step.
* ``futurefill`` (dyadic, O(L log² L) for L steps) and ``futurefill_epoched`` (O(L^{3/2}), epoch `block`):
  exact, at most `seq_len` steps per state.
* ``lds``: the filters κ_j distilled into P = `state_size` real poles; approximate, O(P) per step
  and unbounded length. Built on the host (NumPy least squares), so not inside `jit`.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float, PyTree

from ..core import futurefill as ff
from ..core import lds_distill as lds
from ..core.ar_recurrence import eq4_recurrence, output_recurrence, with_initial_outputs
from ..core.fftconv import causal_conv_mixing
from ..core.stu import input_taps
from .base import check_step_input, scan_steps

ROUTES = ("exact", "futurefill", "futurefill_epoched", "lds")


class STUStepState(NamedTuple):
    """Route state for Δ, the last k_u inputs (`recent[j]` = u_{t-j}) and the last outputs (`past[j]` = ŷ_{t-1-j})."""

    conv: PyTree
    recent: Float[Array, "ku Hin"]
    past: Float[Array, "ky Hout"]


def _past_size(m_y_mode: str, m_y) -> int:
    return {"none": 0, "fixed_eq4": 2}.get(m_y_mode, 0 if m_y is None else m_y.shape[0])


class STUStepper(eqx.Module):
    """An STU prepared for generation by one route: `init_state()`, `step(state, u_t)`, `stepper(u, state)`."""

    consts: PyTree
    m_u: Float[Array, "ku Hin Hout"] | None
    m_y: Float[Array, "ky Hout Hout"] | None
    d_in: int = eqx.field(static=True)
    d_out: int = eqx.field(static=True)
    route: str = eqx.field(static=True)
    m_y_mode: str = eqx.field(static=True)
    length: int = eqx.field(static=True)
    dtype: str = eqx.field(static=True)

    def init_state(self) -> STUStepState:
        """Zero state: empty route state, no past inputs or outputs."""
        dtype = jnp.dtype(self.dtype)
        k_u = 0 if self.m_u is None else self.m_u.shape[0]
        if self.route == "exact":
            conv = ff.cached_conv_init(self.consts)
        elif self.route == "futurefill":
            conv = ff.dyadic_init(self.consts, length=self.length)
        elif self.route == "futurefill_epoched":
            conv = ff.epoched_init(self.consts, length=self.length)
        else:
            conv = lds.lds_init(self.consts[1])
        return STUStepState(conv, jnp.zeros((k_u, self.d_in), dtype),
                            jnp.zeros((_past_size(self.m_y_mode, self.m_y), self.d_out), dtype))

    def step(self, state: STUStepState, u_t: Float[Array, " Hin"]) -> tuple[STUStepState, Float[Array, " Hout"]]:
        """One step of eq. (4)/(6): Δ_t by the route, plus the input taps and the output recurrence [STU, eq. (4)]."""
        u_t = check_step_input(self, u_t, self.d_in)
        x = u_t.astype(state.recent.dtype)
        if self.route == "exact":
            conv, delta = ff.cached_conv_step(self.consts, state.conv, x)
        elif self.route == "futurefill":
            conv, delta = ff.dyadic_step(self.consts, state.conv, x)
        elif self.route == "futurefill_epoched":
            conv, delta = ff.epoched_step(self.consts, state.conv, x)
        else:
            conv, delta = lds.lds_step(self.consts[0], self.consts[1], state.conv, x)
        recent = state.recent
        if self.m_u is not None:
            recent = jnp.concatenate([x[None], recent[:-1]], axis=0)
            delta = delta + jnp.einsum("ji,jio->o", recent, self.m_u.astype(recent.dtype))
        past = state.past
        if self.m_y_mode == "fixed_eq4":
            y = delta + past[1]
        elif self.m_y_mode == "learnable":
            y = delta + jnp.einsum("jh,jho->o", past, self.m_y.astype(past.dtype))
        else:
            y = delta
        if past.shape[0]:
            past = jnp.concatenate([y[None], past[:-1]], axis=0)
        return STUStepState(conv, recent, past), y.astype(jnp.result_type(u_t, state.recent))

    def __call__(self, u: Float[Array, "L Hin"], state: STUStepState) -> tuple[Float[Array, "L Hout"], STUStepState]:
        """Run a chunk u [l, H_in] from `state`; returns (y [l, H_out], final state).

        The exact route does it in one FFT convolution of [past L inputs, u] (a prefill, O((L + l) log(L + l)));
        the other routes scan `step`.
        """
        if self.route != "exact":
            return scan_steps(self.step, state, u)
        if u.ndim != 2 or u.shape[1] != self.d_in or u.shape[0] == 0:
            raise ValueError(f"u must have shape [l, H_in={self.d_in}] with l >= 1; got {tuple(u.shape)}.")
        return self._prefill(u, state)

    def _prefill(self, u, state: STUStepState):
        x = u.astype(state.recent.dtype)
        L = self.consts.shape[0]
        window = jnp.concatenate([state.conv.inputs[::-1], x], axis=0)  # oldest first, then the chunk
        delta = causal_conv_mixing(window, jnp.swapaxes(self.consts, 1, 2))[L:]
        recent = state.recent
        if self.m_u is not None:
            k_u = recent.shape[0]
            taps_in = jnp.concatenate([recent[::-1][1:], x], axis=0)  # the k_u - 1 previous inputs, then the chunk
            delta = delta + input_taps(taps_in, self.m_u)[k_u - 1:]
            recent = jnp.concatenate([recent[::-1], x], axis=0)[-k_u:][::-1]
        past = state.past
        k = past.shape[0]
        if k:  # initial outputs enter as corrections of the first k Δ: Σ_{j>t} ŷ_{t-j} M_j
            weights = self.m_y if self.m_y_mode == "learnable" else jnp.stack(
                [jnp.zeros((self.d_out, self.d_out), past.dtype), jnp.eye(self.d_out, dtype=past.dtype)])
            delta = with_initial_outputs(delta, past, weights)
            y = eq4_recurrence(delta) if self.m_y_mode == "fixed_eq4" else output_recurrence(delta, weights)
            past = jnp.concatenate([past[::-1], y], axis=0)[-k:][::-1]
        else:
            y = delta
        inputs = window[-L:][::-1]
        return y.astype(jnp.result_type(u, state.recent)), STUStepState(ff.CachedConvState(inputs), recent, past)


def filters_time(filters_fft: Float[Array, "2 m J"], *, n: int, length: int, dtype) -> Float[Array, "L J"]:
    """κ_j(l) for l < length from the stored rfft(κ, n) (the inverse of `stu.spectral_bank`)."""
    f = lax.stop_gradient(filters_fft).astype(dtype)
    return jnp.fft.irfft(lax.complex(f[0], f[1]), n=n, axis=0)[:length]


def make_stepper(*, filters_fft, m_phi, m_u, m_y, m_y_mode: str, n: int, seq_len: int, route: str = "exact",
                 block: int | None = None, state_size: int | None = None, dtype) -> STUStepper:
    """Prepare the constants of `route` for an STU with spectral weights `m_phi` [J, H_in, H_out]."""
    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}; got {route!r}.")
    if route != "lds" and state_size is not None:
        raise ValueError(f"state_size is the distilled LDS size: only for route='lds' (got route={route!r}).")
    if route != "futurefill_epoched" and block is not None:
        raise ValueError(f"block is the FutureFill epoch length: only for route='futurefill_epoched' (got {route!r}).")
    m_phi = m_phi.astype(dtype)
    if route == "lds":
        if state_size is None:
            raise ValueError("route='lds' needs state_size= (the number P of distilled poles, even).")
        f = np.asarray(filters_fft, np.float64)  # the fit runs in float64 on the host, whatever x64 says
        kappa = np.fft.irfft(f[0] + 1j * f[1], n=n, axis=0)[:seq_len]
        poles = lds.distillation_poles(state_size=state_size, seq_len=seq_len)
        coeffs = lds.fit_lds(kappa, poles)
        gain = jnp.einsum("pj,jio->pio", jnp.asarray(coeffs, dtype), m_phi)
        consts = (jnp.asarray(poles, dtype), gain)
    else:
        kernel = jnp.einsum("lj,jio->lio", filters_time(filters_fft, n=n, length=seq_len, dtype=dtype), m_phi)
        if route == "exact":
            consts = kernel
        elif route == "futurefill":
            consts = ff.dyadic_plan(kernel)
        else:
            consts = ff.epoched_plan(kernel, block=ff.default_block(seq_len) if block is None else block)
    m_u, m_y = (None if m is None else m.astype(dtype) for m in (m_u, m_y))
    return STUStepper(consts, m_u, m_y, int(m_phi.shape[1]), int(m_phi.shape[2]), route, m_y_mode,
                      int(seq_len), jnp.dtype(dtype).name)
