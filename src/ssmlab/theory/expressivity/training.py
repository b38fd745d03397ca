r"""Trainable deep linear SSMs under a norm bound: projected Adam on the impulse response [DepthWidth, abstract].

`ModalDeepSSM` stores `depth` layers of `width` complex modes as real/imaginary pairs. Mode j of layer k
stands for the conjugate pair (a, ā) with residues (c b, conj(c b)), so each layer is a real SSM of state
size 2·width (`to_deep` gives the `DeepLinearSSM` view, with the same norms):

    h^k_0 = d_k,   h^k_t = 2 Re Σ_j c_kj b_kj a_kj^{t-1}  (t >= 1),   h = h^1 * ... * h^K (causal).

Projected gradient: after every Adam step the parameters are mapped to their Euclidean projection onto
{||θ|| <= M} ∩ {|a| <= max_pole}, a product of discs (entrywise norm) or of balls (spectral norm, where
||B_k||_2² = 2 Σ_j |b_kj|²), so the projection is exact and separable. `bound = inf` gives the
unconstrained run with the same code (only the pole radius is kept below `max_pole`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ...core.fftconv import fft_size
from .models import DeepLinearSSM, NormKind, SISOLayer, check_norm_kind


def _cplx(x: Float[Array, "... 2"]):
    return x[..., 0] + 1j * x[..., 1]


class ModalDeepSSM(eqx.Module):
    """`depth` layers of `width` conjugate-pair modes, real parameters a, b, c [depth, width, 2], d [depth]."""

    a: Float[Array, "K m 2"]
    b: Float[Array, "K m 2"]
    c: Float[Array, "K m 2"]
    d: Float[Array, " K"]

    @property
    def depth(self) -> int:
        """Number of layers K."""
        return int(self.a.shape[0])

    @property
    def width(self) -> int:
        """Real state size of each layer (two per complex mode)."""
        return 2 * int(self.a.shape[1])

    @property
    def parameter_count(self) -> int:
        """Real parameters: 6 per complex mode + 1 per layer (= 3 per state + 1, as `DeepLinearSSM`)."""
        return int(self.a.shape[0] * (6 * self.a.shape[1] + 1))

    def layer_impulse_responses(self, *, length: int) -> Float[Array, "K L"]:
        """h^k_t per layer (module doc), t < length."""
        t = jnp.arange(length - 1)
        powers = jnp.power(_cplx(self.a)[:, None, :], t[None, :, None])  # [K, L-1, m]
        res = (_cplx(self.c) * _cplx(self.b))[:, None, :]
        tail = 2.0 * jnp.real(jnp.sum(res * powers, axis=-1))
        return jnp.concatenate([self.d[:, None], tail.astype(self.d.dtype)], axis=1)

    def impulse_response(self, *, length: int) -> Float[Array, " L"]:
        """End-to-end h_t, t < length: product of the layers' spectra on a grid long enough not to wrap."""
        n = fft_size(self.depth * (length - 1) + 1)
        spectra = jnp.fft.rfft(self.layer_impulse_responses(length=length), n=n, axis=1)
        return jnp.fft.irfft(jnp.prod(spectra, axis=0), n=n)[:length]

    def to_deep(self) -> DeepLinearSSM:
        """The same map as a `DeepLinearSSM` with the conjugate modes written out (state size 2·width)."""
        a, b, c = (np.asarray(_cplx(x)) for x in (self.a, self.b, self.c))
        d = np.asarray(self.d)
        layers = [SISOLayer(np.concatenate([a[k], a[k].conj()]), np.concatenate([b[k], b[k].conj()]),
                            np.concatenate([c[k], c[k].conj()]), d[k]) for k in range(self.depth)]
        return DeepLinearSSM(layers)


def init_modal(*, depth: int, width: int, key: PRNGKeyArray, r_min: float = 0.5, r_max: float = 0.99,
               gain=1.0, dtype=jnp.float64) -> ModalDeepSSM:
    """Random layers near the identity: |a| ~ U[r_min, r_max], arg a ~ U[0, π], d = gain^{1/K}, small b, c.

    `gain` sets the initial end-to-end scale (each layer carries gain^{1/K}); it is the same rule for every
    architecture, so deep and wide runs start from comparable outputs.
    """
    if not (isinstance(depth, int) and depth >= 1 and isinstance(width, int) and width >= 1):
        raise ValueError(f"depth and width must be positive integers; got depth={depth!r}, width={width!r}.")
    if not 0.0 <= r_min <= r_max < 1.0:
        raise ValueError(f"need 0 <= r_min <= r_max < 1 for stable poles; got r_min={r_min}, r_max={r_max}.")
    k_r, k_th, k_b, k_c = jr.split(key, 4)
    rad = jr.uniform(k_r, (depth, width), dtype, r_min, r_max)
    th = jr.uniform(k_th, (depth, width), dtype, 0.0, jnp.pi)
    a = jnp.stack([rad * jnp.cos(th), rad * jnp.sin(th)], axis=-1)
    layer_gain = gain ** (1.0 / depth)
    scale = jnp.sqrt(jnp.asarray(layer_gain * 0.1 / width, dtype))
    b = scale * jr.normal(k_b, (depth, width, 2), dtype)
    c = scale * jr.normal(k_c, (depth, width, 2), dtype)
    return ModalDeepSSM(a, b, c, jnp.full((depth,), layer_gain, dtype))


def _clip_modulus(x: Float[Array, "... 2"], radius) -> Float[Array, "... 2"]:
    """Project each complex entry (stored as a real pair) onto the disc |z| <= radius."""
    mod = jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True))
    return x * jnp.minimum(1.0, radius / jnp.maximum(mod, jnp.finfo(x.dtype).tiny))


def _clip_layer_vectors(x: Float[Array, "K m 2"], radius) -> Float[Array, "K m 2"]:
    """Project each layer's conjugate-closed vector (||·||_2² = 2 Σ_j |x_j|²) onto the ball of `radius`."""
    norm = jnp.sqrt(2.0 * jnp.sum(x * x, axis=(1, 2), keepdims=True))
    return x * jnp.minimum(1.0, radius / jnp.maximum(norm, jnp.finfo(x.dtype).tiny))


def project_modal(model: ModalDeepSSM, *, bound, kind: NormKind = "inf", max_pole: float = 0.999) -> ModalDeepSSM:
    """Euclidean projection onto {||θ|| <= bound, |a| <= max_pole} (exact: a product of discs/balls)."""
    check_norm_kind(kind)
    bound = jnp.asarray(bound, model.d.dtype)
    a = _clip_modulus(model.a, jnp.minimum(bound, max_pole))
    clip = _clip_modulus if kind == "inf" else _clip_layer_vectors
    return ModalDeepSSM(a, clip(model.b, bound), clip(model.c, bound), jnp.clip(model.d, -bound, bound))


def modal_norm(model: ModalDeepSSM, kind: NormKind = "inf") -> Float[Array, ""]:
    """||θ|| of the conjugate-expanded model (same value as `parameter_norm(model.to_deep())`)."""
    check_norm_kind(kind)
    mod = lambda x: jnp.sqrt(jnp.sum(x * x, axis=-1))  # noqa: E731
    if kind == "inf":
        coupling = jnp.maximum(jnp.max(mod(model.b)), jnp.max(mod(model.c)))
    else:
        vec = lambda x: jnp.sqrt(2.0 * jnp.sum(x * x, axis=(1, 2)))  # noqa: E731
        coupling = jnp.maximum(jnp.max(vec(model.b)), jnp.max(vec(model.c)))
    return jnp.max(jnp.stack([jnp.max(mod(model.a)), coupling, jnp.max(jnp.abs(model.d))]))


def relative_error(h: Float[Array, " L"], target: Float[Array, " L"]) -> Float[Array, ""]:
    """||h - target||_2 / ||target||_2."""
    return jnp.sqrt(jnp.sum((h - target) ** 2) / jnp.sum(target**2))


def fit_impulse_response(
    target: Float[Array, " L"],
    *,
    depth: int,
    width: int,
    key: PRNGKeyArray,
    bound=jnp.inf,
    kind: NormKind = "inf",
    steps: int = 2000,
    learning_rate: float = 1e-2,
    max_pole: float = 0.999,
    init_gain=None,
) -> tuple[ModalDeepSSM, Float[Array, " S"]]:
    """Projected Adam on the relative squared impulse-response error; returns the model and the error per step.

    Pure and traceable in `target`, `key`, `bound` (vmap over them); `depth`, `width`, `steps` are static.
    The returned model is the projected iterate with the lowest error (every iterate is feasible).
    `init_gain` is the initial end-to-end scale (see `init_modal`); the default min(1, max|target|) worked best
    in our runs (1 stalls deep models on small targets; max|target| made the large-gain fits worse).
    """
    check_norm_kind(kind)
    length = target.shape[0]
    if init_gain is None:
        init_gain = jnp.minimum(1.0, jnp.max(jnp.abs(target)))
    model = project_modal(init_modal(depth=depth, width=width, key=key, gain=init_gain, dtype=target.dtype),
                          bound=bound, kind=kind, max_pole=max_pole)
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.05)
    opt = optax.adam(schedule)

    def loss_fn(m):
        return relative_error(m.impulse_response(length=length), target) ** 2

    def step(carry, _):
        m, state, best, best_err = carry
        err2, grads = jax.value_and_grad(loss_fn)(m)
        updates, state = opt.update(grads, state, m)
        err = jnp.sqrt(err2)
        better = err < best_err
        best = jax.tree.map(lambda x, y: jnp.where(better, x, y), m, best)
        best_err = jnp.minimum(err, best_err)
        m = project_modal(optax.apply_updates(m, updates), bound=bound, kind=kind, max_pole=max_pole)
        return (m, state, best, best_err), err

    init = (model, opt.init(model), model, jnp.asarray(jnp.inf, target.dtype))
    (last, _, best, best_err), errs = jax.lax.scan(step, init, None, length=steps)
    last_err = relative_error(last.impulse_response(length=length), target)
    best = jax.tree.map(lambda x, y: jnp.where(last_err < best_err, x, y), last, best)
    return best, jnp.concatenate([errs, last_err[None]])
