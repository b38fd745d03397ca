r"""Mamba: the selective SSM block (S6 inside a gated, convolved block) [Mamba, §3.4, Fig. 3].

For one sequence u [L, H], with E = expand·H inner channels, N states, R = dt_rank:

    (x, z) = u W_in^T                                   x, z: [L, E]    (two branches, no bias)
    x = SiLU(causal_depthwise_conv(x; w_conv [E, K], b_conv))            (K = d_conv taps)
    (δ, B, C) = x W_x^T                                 δ: [L, R], B, C: [L, N]
    Δ = softplus(δ W_dt^T + b_dt)                       [L, E]          [Mamba, Alg. 2]
    A = -exp(A_log)                                     [E, N]          (real, negative for every A_log)
    y = selective_scan(x, Δ, A, B, C, D)                (ZOH on A, Δ B x input term, `core.selective_scan`)
    out = (y ⊙ SiLU(z)) W_out^T                         [L, H]

Init as in the Mamba code (`mamba_simple.py`): A_n = -(n+1) (S4D-Real) in every channel; D = 1;
dt ~ exp(U[log dt_min, log dt_max]) clamped below at `dt_init_floor`, and b_dt = dt + log(-expm1(-dt)),
the inverse softplus, so that softplus(b_dt) = dt at init; W_dt ~ U(±dt_scale / sqrt(R)); the linear
maps and the convolution use PyTorch's default U(±1/sqrt(fan_in)). `dt_rank` "auto" is ceil(H / 16).
`RECURRENT_FIELDS` (A_log, D, b_dt) train with no weight decay and the SSM learning rate (the Mamba code
marks A_log and D `_no_weight_decay`; we treat b_dt, which sets the time scales, the same way, as for Δ
in LRU/S4D). Recurrent form: `init_state()` gives (conv buffer [K-1, E], SSM state [E, N]) and
`step(state, u_t)` advances one step; scanning `step` over a sequence equals `__call__`, and
`layer(u, state=state)` runs a chunk from `state` and returns (y, final state).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._roles import fields_with_role
from ..core.checks import as_inexact, check_float_dtype, check_positive_int
from ..core.scan import resolve_method
from ..core.selective_scan import selective_scan, selective_scan_step
from .base import AbstractSequenceLayer, check_step_input, register_layer
from .spec import Dtype, LayerSpec, ScanMethod, positive, register_spec

MambaState = tuple[Float[Array, "K1 E"], Float[Array, "E N"]]


def causal_depthwise_conv(x: Float[Array, "L E"], w: Float[Array, "E K"], b: Float[Array, " E"],
                          history: Float[Array, "K1 E"] | None = None) -> Float[Array, "L E"]:
    """y_t = b + Σ_k w[:, k] ⊙ x_{t-K+1+k}, with x_{<0} = `history` (zeros if None): PyTorch Conv1d, groups=E."""
    K, L = w.shape[1], x.shape[0]
    past = jnp.zeros((K - 1, x.shape[1]), x.dtype) if history is None else history.astype(x.dtype)
    xp = jnp.concatenate([past, x], axis=0)
    return b[None, :] + sum(w[None, :, k] * xp[k:k + L] for k in range(K))


def _check_options(d_model, d_state, expand, d_conv, dt_rank, dt_min, dt_max, dt_init_floor, dt_scale) -> None:
    check_positive_int("d_model", d_model)
    check_positive_int("d_state", d_state)
    check_positive_int("expand", expand)
    check_positive_int("d_conv", d_conv)
    if dt_rank != "auto":
        check_positive_int("dt_rank", dt_rank)
    if not 0.0 < dt_min < dt_max:
        raise ValueError(f"need 0 < dt_min < dt_max for the log-uniform dt init; got dt_min={dt_min}, "
                         f"dt_max={dt_max}. Swap them if reversed.")
    if not dt_init_floor > 0.0:
        raise ValueError(f"dt_init_floor must be > 0 (the smallest dt at init); got {dt_init_floor}.")
    if not dt_scale > 0.0:
        raise ValueError(f"dt_scale must be > 0 (scales the dt_proj init range); got {dt_scale}.")


class Mamba(AbstractSequenceLayer):
    """Mamba block: out = W_out(S6(SiLU(conv(x))) ⊙ SiLU(z)), (x, z) = W_in u, S6 = selective scan [Mamba, Fig. 3]."""

    in_proj: Float[Array, "E2 H"]
    conv_w: Float[Array, "E K"]
    conv_b: Float[Array, " E"]
    x_proj: Float[Array, "RN2 E"]
    dt_proj: Float[Array, "E R"]
    dt_bias: Float[Array, " E"] = eqx.field(metadata={"role": "recurrent"})
    a_log: Float[Array, "E N"] = eqx.field(metadata={"role": "recurrent"})
    d: Float[Array, " E"] = eqx.field(metadata={"role": "recurrent"})
    out_proj: Float[Array, "H E"]
    dt_rank: int = eqx.field(static=True)
    scan_method: str = eqx.field(static=True)

    def __init__(
        self,
        *,
        d_model: int,
        d_state: int = 16,
        expand: int = 2,
        d_conv: int = 4,
        dt_rank: int | str = "auto",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_init_floor: float = 1e-4,
        dt_scale: float = 1.0,
        scan_method: str = "auto",
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        """Mamba-code init: S4D-Real A, D = 1, log-uniform dt in [dt_min, dt_max] through inverse softplus."""
        _check_options(d_model, d_state, expand, d_conv, dt_rank, dt_min, dt_max, dt_init_floor, dt_scale)
        check_float_dtype("dtype", dtype)
        resolve_method(scan_method)
        E, N = expand * d_model, d_state
        R = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        shapes = {"in_proj": (2 * E, d_model), "conv_w": (E, d_conv), "conv_b": (E,), "x_proj": (R + 2 * N, E),
                  "dt_proj": (E, R), "log_dt": (E,), "out_proj": (d_model, E)}
        # one draw for every field, split in NumPy: a new layer shape costs one compile instead of one per field
        sizes = [math.prod(shape) for shape in shapes.values()]
        draws = np.split(np.asarray(jr.uniform(key, (sum(sizes),), jnp.float32), np.float64), np.cumsum(sizes)[:-1])
        unit = {name: d.reshape(shape) for (name, shape), d in zip(shapes.items(), draws, strict=True)}
        bounds = {"in_proj": 1 / math.sqrt(d_model), "conv_w": 1 / math.sqrt(d_conv), "conv_b": 1 / math.sqrt(d_conv),
                  "x_proj": 1 / math.sqrt(E), "dt_proj": dt_scale / math.sqrt(R), "out_proj": 1 / math.sqrt(E)}
        for name, bound in bounds.items():  # U(-bound, bound)
            setattr(self, name, jnp.asarray((2.0 * unit[name] - 1.0) * bound, dtype))
        dt = np.maximum(np.exp(math.log(dt_min) + unit["log_dt"] * (math.log(dt_max) - math.log(dt_min))),
                        dt_init_floor)
        self.dt_bias = jnp.asarray(dt + np.log(-np.expm1(-dt)), dtype)  # inverse softplus: softplus(b_dt) = dt
        self.a_log = jnp.asarray(np.log(np.broadcast_to(np.arange(1, N + 1, dtype=np.float64), (E, N))), dtype)
        self.d = jnp.ones((E,), dtype)
        self.dt_rank = R
        self.scan_method = scan_method

    @property
    def A(self) -> Float[Array, "E N"]:
        """Continuous-time diagonal state matrix A = -exp(A_log) < 0."""
        return -jnp.exp(self.a_log)

    def _check(self, u) -> Array:
        H = self.out_proj.shape[0]
        u = as_inexact("u", u, complex_ok=False)
        if u.ndim != 2 or u.shape[0] == 0 or u.shape[1] != H:
            raise ValueError(f"u must have shape [L, H] with L >= 1 and H={H}; got {tuple(u.shape)}. "
                             "Use jax.vmap(layer) for batches.")
        return u

    def _ssm_inputs(self, x: Float[Array, "... E"]):
        """(Δ, B, C) from the convolved branch x: the input-dependent ("selective") parameters."""
        R, N = self.dt_rank, self.a_log.shape[1]
        dbc = x @ self.x_proj.T
        bias = jnp.expand_dims(self.dt_bias, tuple(range(x.ndim - 1)))  # [E] or [1, E]
        delta = jax.nn.softplus(dbc[..., :R] @ self.dt_proj.T + bias)
        return delta, dbc[..., R:R + N], dbc[..., R + N:]

    def __call__(self, u: Float[Array, "L H"], state: MambaState | None = None):
        """Apply the block to one sequence [L, H]; use `jax.vmap(layer)` for batches.

        With `state` (from `init_state` or an earlier call) it continues a stream and returns (y, final state),
        by the same parallel route as the stateless call (conv history from the buffer, scan from x0).
        """
        u = self._check(u)
        E = self.d.shape[0]
        xz = u @ self.in_proj.T
        buf = None if state is None else state[0]
        x = jax.nn.silu(causal_depthwise_conv(xz[:, :E], self.conv_w, self.conv_b, buf))
        delta, B, C = self._ssm_inputs(x)
        y, ssm = selective_scan(x, delta, self.A, B, C, self.d, x0=None if state is None else state[1],
                                return_state=True, method=self.scan_method)
        out = ((y * jax.nn.silu(xz[:, E:])) @ self.out_proj.T).astype(jnp.result_type(u, self.d))
        if state is None:
            return out
        seen = jnp.concatenate([state[0], xz[:, :E].astype(state[0].dtype)], axis=0)
        return out, (seen[u.shape[0]:], ssm.astype(state[1].dtype))  # the last d_conv - 1 branch inputs

    def init_state(self) -> MambaState:
        """Zero state: (conv buffer of the last d_conv-1 branch inputs [K-1, E], SSM state x [E, N])."""
        E, N = self.a_log.shape
        return jnp.zeros((self.conv_w.shape[1] - 1, E), self.d.dtype), jnp.zeros((E, N), self.d.dtype)

    def step(self, state: MambaState, u_t: Float[Array, " H"]) -> tuple[MambaState, Float[Array, " H"]]:
        """One recurrent step: (state, u_t [H]) -> (state, y_t [H]); scanning it over u equals `__call__(u)`."""
        u_t = check_step_input(self, u_t, self.out_proj.shape[0])
        buf, ssm = state
        E = self.d.shape[0]
        xz = self.in_proj @ u_t
        window = jnp.concatenate([buf, xz[None, :E].astype(buf.dtype)], axis=0)  # [K, E], oldest first
        x = jax.nn.silu(self.conv_b + jnp.sum(self.conv_w.T * window, axis=0))
        delta, B, C = self._ssm_inputs(x)
        ssm, y = selective_scan_step(ssm, x, delta, self.A, B, C, self.d)
        out = self.out_proj @ (y * jax.nn.silu(xz[E:]))
        return (window[1:], ssm), out.astype(jnp.result_type(u_t, self.d))


@register_layer("mamba")
def _make_mamba(*, d_model: int, seq_len: int, key, state_size: int | None = None, d_state: int | None = None,
                **options) -> Mamba:
    """`state_size` (what `ssmlab train` passes) and `d_state` (the Mamba name) both set N (default 16)."""
    if state_size is not None and d_state is not None and state_size != d_state:
        raise ValueError(f"give the state size once: state_size={state_size} and d_state={d_state} disagree.")
    n = d_state if d_state is not None else state_size if state_size is not None else 16
    return Mamba(d_model=d_model, d_state=n, key=key, **options)


RECURRENT_FIELDS = fields_with_role(Mamba, "recurrent")  # the fields declaring metadata role "recurrent"
"""Fields with Adam, no weight decay and the SSM learning rate [Mamba code, `_no_weight_decay`]."""


@register_spec
@dataclasses.dataclass(frozen=True)
class MambaSpec(LayerSpec):
    """Typed options of layer "mamba" (`Mamba`); `state_size` is N (Mamba's d_state)."""

    name: ClassVar[str] = "mamba"
    state_size: int = 16
    expand: int = 2
    d_conv: int = 4
    dt_rank: int | Literal["auto"] = "auto"
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dt_init_floor: float = 1e-4
    dt_scale: float = 1.0
    scan_method: ScanMethod = "auto"
    dtype: Dtype = "float32"

    def check(self) -> None:
        positive(self, "state_size", "expand", "d_conv", "dt_min", "dt_max", "dt_scale")
        if self.dt_rank != "auto":
            positive(self, "dt_rank")
