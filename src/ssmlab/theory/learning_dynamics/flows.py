r"""Gradient flow (Diffrax ODE) in the frequency domain, and gradient descent on the time-domain model.

* `gradient_flow`: τ dθ/dt = R_θ(θ) with R_θ = Re Σ_k (σ_k - H_k η_k)(∂H_k/∂θ)^* for the full
  parameter set (a, b, c) of one layer or K stacked layers, any subset frozen, optionally tied
  across the latent dimensions [LDyn, eqs. (3), (32)-(39)].
* `time_domain_descent`: plain gradient descent θ ← θ - λ ∇_θ Σ_t (y_t - ŷ_t)^2 with `jax.grad`
  through the time-domain model (recurrence or FFT convolution). By Parseval it follows the
  flow above with τ = L/(2λ), t counted in steps, up to the O(1/τ) error of the Euler step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array

from ...core.checks import is_concrete
from .frequency import PARAM_NAMES, as_stack, check_learn, flow_rates, stacked_output, time_loss


def _check_times(ts) -> Array:
    ts = jnp.asarray(ts)
    if ts.ndim != 1 or ts.shape[0] < 1:
        raise ValueError(f"ts must be a non-empty 1-D array of save times; got shape {ts.shape}.")
    if is_concrete(ts):
        arr = np.asarray(ts)
        if arr[0] < 0 or np.any(np.diff(arr) < 0):
            raise ValueError("ts must be non-negative and non-decreasing (times at which to save the flow).")
    return ts


_SOLVERS = {"tsit5": diffrax.Tsit5, "dopri8": diffrax.Dopri8}


@functools.cache
def _vector_field(learn: tuple[str, ...], tied: bool) -> Callable:
    """One vector field per (learn, tied), so Diffrax's compiled solve is reused across calls."""

    def field(t, y, args):
        sigma_re, sigma_im, eta_k, tau = args
        sigma_k = jax.lax.complex(sigma_re, sigma_im)
        return tuple(r / tau for r in flow_rates(*y, sigma_k, eta_k, learn=learn, tied=tied))

    return field


def gradient_flow(
    a, b, c, sigma_k: Array, eta_k: Array, *, tau: float, ts, learn: Sequence[str] = PARAM_NAMES,
    tied: bool = False, rtol: float = 1e-12, atol: float = 1e-14, max_steps: int = 200_000, solver: str = "tsit5",
) -> tuple[Array, Array, Array]:
    """Solve τ dθ/dt = R_θ from θ(0) = (a, b, c) with Diffrax (Tsit5 or Dopri8, adaptive) [LDyn, eqs. (32)-(39)].

    Args:
        a: initial poles, [N] (one layer) or [K, N] (K stacked layers).
        b: initial input weights, same shape as `a`.
        c: initial output weights, same shape as `a`.
        sigma_k: per-bin input-output statistic σ_k from `bin_statistics`, [L].
        eta_k: per-bin input power η_k from `bin_statistics`, [L].
        tau: time constant (τ = L/(2λ) to match gradient descent with step λ on Σ_t (y-ŷ)^2).
        ts: save times, 1-D, non-decreasing, starting at or after 0.
        learn: trained parameters; the others stay at their initial values.
        tied: share each layer's a, b, c across its latent dimensions (see `flow_rates`).

    Returns:
        (a(ts), b(ts), c(ts)), each [T, *a.shape].
    """
    learn = check_learn(learn)
    if solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {sorted(_SOLVERS)}; got {solver!r}.")
    if is_concrete(tau) and not float(tau) > 0:
        raise ValueError(f"tau must be a positive number; got {tau!r}.")
    ts = _check_times(ts)
    y0 = tuple(jnp.asarray(v, dtype=jnp.result_type(float)) for v in (a, b, c))
    as_stack(*y0)

    sigma_k = jnp.asarray(sigma_k)  # passed as real and imaginary parts: Diffrax warns on complex arrays
    args = (jnp.real(sigma_k), jnp.imag(sigma_k), jnp.asarray(eta_k), jnp.asarray(tau, dtype=y0[0].dtype))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_vector_field(learn, tied)), _SOLVERS[solver](), t0=0.0, t1=ts[-1], dt0=None, y0=y0,
        args=args, saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    return sol.ys


def gradient_descent(
    loss_fn: Callable, params, *, learning_rate: float | Array, steps: int, record_every: int = 1
) -> tuple[object, Array]:
    """θ_{s+1} = θ_s - λ ∇loss(θ_s), s < steps, as one `lax.scan` (no Python loop over steps).

    Returns (params pytree with a leading axis of steps//record_every + 1 records, losses [same]).
    Record j holds θ after j·record_every steps (record 0 is the initial value).
    """
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer; got {steps!r}.")
    if not isinstance(record_every, (int, np.integer)) or record_every < 1 or steps % record_every:
        raise ValueError(f"record_every must be a positive divisor of steps={steps}; got {record_every!r}.")
    grad = jax.value_and_grad(loss_fn)

    def step(p, _):
        _, g = grad(p)
        return jax.tree_util.tree_map(lambda x, dx: x - learning_rate * dx, p, g), None

    def record(p, _):
        p, _ = lax.scan(step, p, None, length=record_every)
        return p, (p, loss_fn(p))

    _, (traj, losses) = lax.scan(record, params, None, length=steps // record_every)
    first = jax.tree_util.tree_map(lambda x: x[None], params)
    traj = jax.tree_util.tree_map(lambda x0, xs: jnp.concatenate([x0, xs], axis=0), first, traj)
    return traj, jnp.concatenate([loss_fn(params)[None], losses])


def make_time_loss(
    a, b, c, u: Array, y: Array, *, learn: Sequence[str] = PARAM_NAMES, tied: bool = False,
    periodic: bool = True, method: str = "recurrence",
) -> tuple[Callable, dict, Callable]:
    """Time-domain loss Σ_t (y_t - ŷ_t)^2 of the stacked model as a function of the learned parameters.

    Returns (loss_fn(params), params0, unpack(params) -> (a, b, c) as [K, N]). With `tied=True`
    the learned arrays are one scalar per layer ([K, 1]) broadcast to all N latent dimensions,
    so autodiff gives the summed gradient of the shared scalar.
    """
    learn = check_learn(learn)
    full = dict(zip(PARAM_NAMES, as_stack(a, b, c)[:3], strict=True))
    shape = full["a"].shape
    if tied:
        for name, v in full.items():
            if is_concrete(v) and not np.allclose(np.asarray(v), np.asarray(v)[:, :1]):
                raise ValueError(f"tied=True needs {name} equal across the latent dimension of each layer.")
    params0 = {n: (full[n][:, :1] if tied else full[n]) for n in learn}

    def unpack(params):
        return tuple(jnp.broadcast_to(params[n], shape) if n in params else full[n] for n in PARAM_NAMES)

    def loss_fn(params):
        return time_loss(y, stacked_output(*unpack(params), u, periodic=periodic, method=method))

    return loss_fn, params0, unpack


def time_domain_descent(
    a, b, c, u: Array, y: Array, *, learning_rate: float | Array, steps: int, record_every: int = 1,
    learn: Sequence[str] = PARAM_NAMES, tied: bool = False, periodic: bool = True, method: str = "recurrence",
) -> tuple[tuple[Array, Array, Array], Array]:
    """Gradient descent with `jax.grad` through the time-domain model; the discrete twin of `gradient_flow`.

    Returns ((a, b, c) records, each [T, K, N] or [T, N] for a single-layer input, losses [T]).
    """
    single = jnp.ndim(a) == 1
    loss_fn, params0, unpack = make_time_loss(a, b, c, u, y, learn=learn, tied=tied, periodic=periodic, method=method)
    traj, losses = gradient_descent(loss_fn, params0, learning_rate=learning_rate, steps=steps,
                                    record_every=record_every)
    full = jax.vmap(unpack)(traj) if traj else tuple(
        jnp.broadcast_to(v, (losses.shape[0], *v.shape)) for v in as_stack(a, b, c)[:3])
    if single:
        full = tuple(v[:, 0] for v in full)
    return tuple(full), losses
