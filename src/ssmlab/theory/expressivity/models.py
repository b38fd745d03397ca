r"""Deep linear SSMs: models, transfer functions, norms, and depth <-> width conversions [DepthWidth].

ssmlab's formalisation of Bao, Yu, Jiang, Li (2025), whose abstract is all we have; the precise
statements and proofs are ssmlab's own (`docs/theory/depth-vs-width.md`).

Convention (standard state space, one step of delay through the state), zero initial state:

    x_{t+1} = diag(a) x_t + b u_t,   y_t = c·x_t + d u_t,   x_0 = 0,
    h_0 = d,   h_t = Σ_i c_i b_i a_i^{t-1} (t >= 1),   H(z) = d + Σ_i c_i b_i / (z - a_i).

(`core.kernels.ssm_kernel` uses x_t = a x_{t-1} + b u_t; our h_{t+1} is its K_t.) A layer has complex
diagonal `a`, and is real when its modes are closed under conjugation; only the residues r_i = c_i b_i
enter H. A deep model of depth K composes layers without nonlinearity: H(z) = Π_l H_l(z), and its
impulse response is the causal convolution of the layers' responses. Width = state size per layer;
parameter count = Σ_l (3 m_l + 1). Norms (ours: [DepthWidth, abstract] names
norm constraints without defining them; docs/theory/depth-vs-width.md §1):

    ||θ||_∞    = max_l max(|a_li|, |b_li|, |c_li|, |d_l|),
    ||θ||_spec = max_l max(max_i |a_li|, ||b_l||_2, ||c_l||_2, |d_l|).

The factorisation, norm-bounded construction and depth bounds live in `expressivity.construction`.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Inexact

from ...core.checks import check_length, check_rank, is_concrete
from ...core.fftconv import causal_conv
from ...core.kernels import ssm_kernel
from ...core.scan import linear_recurrence

# Plain `str` (not Literal) so that a wrong value reaches `check_norm_kind`'s ValueError, not a type error.
NormKind = str
NORM_KINDS = ("inf", "spectral")


def check_x64(where: str) -> None:
    """Raise ValueError unless float64 is enabled (the constructions are float64 maths)."""
    if not jax.config.jax_enable_x64:
        raise ValueError(
            f"{where} needs float64: wrap the call in `with jax.enable_x64(True):` (the factorisations "
            "lose 8 digits in float32)."
        )


def check_norm_kind(kind: str) -> None:
    """Raise ValueError unless `kind` is a supported norm."""
    if kind not in NORM_KINDS:
        raise ValueError(f"kind must be one of {NORM_KINDS} (entrywise max or per-matrix spectral); got {kind!r}.")


def check_bound(bound: float) -> None:
    """The norm bound M must be a finite number >= 1 (so that every stable pole is admissible)."""
    if not (isinstance(bound, (int, float, np.floating)) and math.isfinite(bound) and bound >= 1.0):
        raise ValueError(f"bound must be a finite number M >= 1 (so every stable pole |a| < 1 fits); got {bound!r}.")


class SISOLayer(eqx.Module):
    """One diagonal SISO linear SSM layer: H(z) = d + Σ_i c_i b_i / (z - a_i) [DepthWidth, abstract].

    Fields are complex [m] (m = 0 is a pure gain layer) and a real scalar `d`; modes must be closed
    under conjugation so that the map is real (checked on concrete values at construction).
    """

    a: Complex[Array, " m"]
    b: Complex[Array, " m"]
    c: Complex[Array, " m"]
    d: Float[Array, ""]

    def __init__(self, a, b, c, d):
        """Store the diagonal `a`, input and output vectors `b`, `c` (all [m]) and feedthrough `d`."""
        a, b, c = (jnp.asarray(x) for x in (a, b, c))
        for name, x in (("a", a), ("b", b), ("c", c)):
            check_rank(name, x, (1,), "[m], the diagonal of one SISO layer")
        if not a.shape == b.shape == c.shape:
            raise ValueError(f"a, b, c must share the width m; got {a.shape}, {b.shape}, {c.shape}.")
        cdt = jnp.result_type(a, b, c, jnp.complex64)
        self.a, self.b, self.c = a.astype(cdt), b.astype(cdt), c.astype(cdt)
        self.d = jnp.real(jnp.asarray(d)).astype(jnp.finfo(cdt).dtype)
        if is_concrete(self.a) and is_concrete(self.b) and is_concrete(self.c):
            _check_conjugate_closed(np.asarray(self.a), np.asarray(self.c * self.b))

    @property
    def width(self) -> int:
        """State size m."""
        return int(self.a.shape[0])

    @property
    def residues(self) -> Complex[Array, " m"]:
        """r_i = c_i b_i, the residues of H at the poles a_i."""
        return self.c * self.b


def _check_conjugate_closed(a: np.ndarray, r: np.ndarray) -> None:
    """Raise if Σ r/(z - a) is not real on the real axis, i.e. the modes are not conjugate-closed."""
    if a.size == 0:
        return
    z = np.array([1.7, -2.3, 3.1])
    vals = (r[None, :] / (z[:, None] - a[None, :])).sum(axis=1)
    scale = np.abs(r).sum() + 1e-300
    if np.max(np.abs(vals.imag)) > 1e-8 * scale:
        raise ValueError(
            "the layer's modes are not closed under complex conjugation, so its map is complex; give every "
            "complex pole a with residue c b a partner conj(a) with residue conj(c b)."
        )


def layer_transfer(layer: SISOLayer, z: Inexact[Array, " F"]) -> Complex[Array, " F"]:
    """H(z) = d + Σ_i c_i b_i / (z - a_i) at the points z [DepthWidth, abstract]."""
    z = jnp.asarray(z)
    terms = layer.residues[None, :] / (z[:, None] - layer.a[None, :])
    return layer.d + jnp.sum(terms, axis=1)


def layer_impulse_response(layer: SISOLayer, *, length: int) -> Float[Array, " L"]:
    """h_0 = d, h_t = Re Σ_i c_i b_i a_i^{t-1} for 0 < t < length (delayed convention, module doc)."""
    check_length("length", length)
    head = jnp.reshape(layer.d, (1,))
    if length == 1:
        return head
    if layer.width == 0:
        return jnp.concatenate([head, jnp.zeros((length - 1,), head.dtype)])
    tail = jnp.real(ssm_kernel(layer.a, layer.b, layer.c, length=length - 1))
    return jnp.concatenate([head, tail.astype(head.dtype)])


def layer_output(layer: SISOLayer, u: Float[Array, " L"]) -> Float[Array, " L"]:
    """y_t = Re(c·x_t) + d u_t with x_{t+1} = a x_t + b u_t, by the diagonal recurrence (time domain)."""
    if layer.width == 0:
        return layer.d * u
    s = linear_recurrence(layer.a, u[:, None] * layer.b[None, :])  # s_t = x_{t+1}
    x = jnp.concatenate([jnp.zeros((1, layer.width), s.dtype), s[:-1]], axis=0)
    return jnp.real(x @ layer.c).astype(u.dtype) + layer.d * u


class DeepLinearSSM(eqx.Module):
    """Composition y = S_K ∘ ... ∘ S_1 (u) of SISO layers, H(z) = Π_l H_l(z) [DepthWidth, abstract].

    With `residual=True` each layer maps u -> u + S_l(u), so H(z) = Π_l (1 + H_l(z)).
    Acts on one real sequence u [L]; vmap for batches.
    """

    layers: tuple[SISOLayer, ...]
    residual: bool = eqx.field(static=True, default=False)

    def __init__(self, layers, *, residual: bool = False):
        """Wrap a non-empty sequence of `SISOLayer`s."""
        layers = tuple(layers)
        if not layers or not all(isinstance(lay, SISOLayer) for lay in layers):
            raise ValueError("layers must be a non-empty sequence of SISOLayer (a depth-0 model has no map).")
        self.layers = layers
        self.residual = bool(residual)

    @property
    def depth(self) -> int:
        """Number of layers K."""
        return len(self.layers)

    @property
    def widths(self) -> tuple[int, ...]:
        """State size of each layer."""
        return tuple(lay.width for lay in self.layers)

    @property
    def parameter_count(self) -> int:
        """Σ_l (3 m_l + 1): diagonal of A, B, C and D per SISO layer [DepthWidth, abstract]."""
        return sum(3 * m + 1 for m in self.widths)

    def plain(self) -> DeepLinearSSM:
        """The same map without residual connections (1 + H_l has feedthrough d_l + 1)."""
        if not self.residual:
            return self
        return DeepLinearSSM([SISOLayer(lay.a, lay.b, lay.c, lay.d + 1.0) for lay in self.layers])

    def as_residual(self) -> DeepLinearSSM:
        """The same map written with residual connections: S_l has feedthrough d_l - 1 (inverse of `plain`).

        Norms change: a pure gain layer g becomes |g - 1|, so under ||θ|| <= M a residual gain layer can
        multiply by up to 1 + M instead of M.
        """
        if self.residual:
            return self
        return DeepLinearSSM([SISOLayer(lay.a, lay.b, lay.c, lay.d - 1.0) for lay in self.layers], residual=True)

    def transfer_function(self, z: Inexact[Array, " F"]) -> Complex[Array, " F"]:
        """H(z) = Π_l H_l(z) at the points z."""
        vals = jnp.stack([layer_transfer(lay, z) for lay in self.plain().layers])
        return jnp.prod(vals, axis=0)

    def impulse_response(self, *, length: int) -> Float[Array, " L"]:
        """h_t for t < length: causal FFT convolution of the layers' truncated impulse responses."""
        layers = self.plain().layers
        h = layer_impulse_response(layers[0], length=length)
        for lay in layers[1:]:
            h = causal_conv(h, layer_impulse_response(lay, length=length))
        return h

    def __call__(self, u: Float[Array, " L"]) -> Float[Array, " L"]:
        """Output sequence, layer after layer through the time-domain recurrences."""
        check_rank("u", u, (1,), "[L], one real SISO sequence; vmap for batches")
        for lay in self.layers:
            y = layer_output(lay, u)
            u = u + y if self.residual else y
        return u


def layer_norm(layer: SISOLayer, kind: NormKind = "inf") -> Float[Array, ""]:
    """max(|a_i|, |b_i|, |c_i|, |d|) (kind "inf") or max(max|a_i|, ||b||_2, ||c||_2, |d|) ("spectral")."""
    check_norm_kind(kind)
    parts = [jnp.abs(layer.d)]
    if layer.width:
        parts.append(jnp.max(jnp.abs(layer.a)))
        if kind == "inf":
            parts += [jnp.max(jnp.abs(layer.b)), jnp.max(jnp.abs(layer.c))]
        else:
            parts += [jnp.linalg.norm(layer.b), jnp.linalg.norm(layer.c)]
    return jnp.max(jnp.stack([jnp.asarray(p, parts[0].dtype) for p in parts]))


def parameter_norm(model: DeepLinearSSM, kind: NormKind = "inf") -> Float[Array, ""]:
    """||θ|| = max over layers of `layer_norm` [DepthWidth, abstract] (residual skips carry no parameter)."""
    return jnp.max(jnp.stack([layer_norm(lay, kind) for lay in model.layers]))


def balanced_factors(residues: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """b = sqrt|r|, c = r / sqrt|r| (so c b = r and |b| = |c|; real r gives real b, c; conj r gives conj c)."""
    mag = np.sqrt(np.abs(residues))
    safe = np.where(mag > 0, mag, 1.0)
    return mag.astype(complex), np.where(mag > 0, residues / safe, 0.0).astype(complex)


def shallow_from_residues(poles, residues, d) -> DeepLinearSSM:
    """Depth-1 model H(z) = d + Σ r_i/(z - λ_i) with balanced |b_i| = |c_i| = sqrt|r_i|."""
    poles, residues = np.asarray(poles, complex), np.asarray(residues, complex)
    b, c = balanced_factors(residues)
    return DeepLinearSSM([SISOLayer(poles, b, c, float(np.real(d)))])


def deep_to_shallow(model: DeepLinearSSM) -> DeepLinearSSM:
    """Series realisation (R1): one layer with the union of the poles and residues r_{l,i} Π_{k≠l} H_k(λ_{l,i}).

    Partial fractions of Π_l H_l: at a simple pole λ of layer l the residue is r Π_{k≠l} H_k(λ), and the
    feedthrough is Π_l d_l. Width Σ_l m_l, parameter count 3 Σ m_l + 1 (the deep one has 3 Σ m_l + K).
    Poles shared by two layers would give a Jordan block (not diagonal), so they are rejected.
    """
    check_x64("deep_to_shallow")
    layers = model.plain().layers
    poles = np.concatenate([np.asarray(lay.a) for lay in layers])
    if poles.size > 1:
        gaps = np.abs(poles[:, None] - poles[None, :]) + np.eye(poles.size)
        if gaps.min() < 1e-9:
            raise ValueError(
                "deep_to_shallow needs distinct poles across layers (a repeated pole makes a Jordan block, "
                "which no diagonal shallow SSM realises); perturb the repeated poles apart."
            )
    residues = []
    for l, lay in enumerate(layers):
        r = np.asarray(lay.residues)
        for k, other in enumerate(layers):
            if k != l and lay.width:
                r = r * np.asarray(layer_transfer(other, jnp.asarray(lay.a)))
        residues.append(r)
    d = np.prod([float(lay.d) for lay in layers])
    return shallow_from_residues(poles, np.concatenate(residues), d)


def l1_gain(h: Float[Array, " L"]) -> Float[Array, ""]:
    """||h||_1 = Σ_t |h_t| (an upper bound on the H∞ gain max_ω |H(e^{iω})|)."""
    return jnp.sum(jnp.abs(h))


def shallow_gain_bound(*, width: int, bound: float, rho: float, kind: NormKind = "inf") -> float:
    """||h||_1 <= M + m M²/(1-ρ) ("inf") or M + M²/(1-ρ) ("spectral") for ||θ|| <= M, ρ(A) <= ρ (R5).

    From h_0 = d, h_t = Σ c_i b_i a_i^{t-1}: Σ_t |h_t| <= |d| + Σ_i |c_i b_i| / (1 - |a_i|), with
    Σ_i |c_i b_i| <= m M² entrywise and <= ||c||_2 ||b||_2 <= M² under the spectral norm (Cauchy-Schwarz):
    under the spectral norm width does not raise the gain at all.
    """
    check_norm_kind(kind)
    check_bound(bound)
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho must be a pole radius in [0, 1); got {rho!r}.")
    if not isinstance(width, (int, np.integer)) or width < 0:
        raise ValueError(f"width must be a non-negative integer; got {width!r}.")
    coupling = width * bound**2 if kind == "inf" else (bound**2 if width else 0.0)
    return float(bound + coupling / (1.0 - rho))


def shallow_width_lower_bound(gain: float, *, bound: float, rho: float) -> float:
    """Width m >= (G - M)(1 - ρ)/M² needed by a shallow SSM with ||θ||_∞ <= M to reach ℓ1 gain G (R5)."""
    check_bound(bound)
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho must be a pole radius in [0, 1); got {rho!r}.")
    return max(0.0, (gain - bound) * (1.0 - rho) / bound**2)


def min_shallow_width(model: DeepLinearSSM, *, bound: float, kind: NormKind = "inf") -> float:
    """Smallest width of a shallow SSM with ||θ|| <= M equal to the shallow `model` (inf if none) (R5').

    Partial fractions are unique, so a shallow realisation must reproduce d and, at each pole, the sum
    of the residues of its copies. Under the entrywise norm a residue r split over k copies needs
    |r|/k <= M²: width Σ_i max(1, ceil(|r_i|/M²)). Under the spectral norm Σ_i |c_i b_i| <= M² whatever
    the width, so the target is representable (at width n) iff Σ_i |r_i| <= M², else never.
    """
    check_norm_kind(kind)
    check_bound(bound)
    if model.depth != 1:
        raise ValueError(f"min_shallow_width takes a shallow (depth-1) model; got depth {model.depth}. "
                         "Use deep_to_shallow first.")
    lay = model.plain().layers[0]
    r = np.abs(np.asarray(lay.residues))
    if abs(float(lay.d)) > bound * (1 + 1e-12) or (lay.width and np.abs(np.asarray(lay.a)).max() > bound):
        return math.inf
    if kind == "spectral":
        return float(lay.width) if r.sum() <= bound**2 * (1 + 1e-12) else math.inf
    copies = np.where(r > 0, np.maximum(1, np.ceil(r / bound**2 - 1e-12)), 0)
    return float(copies.sum())


def random_shallow_ssm(*, n_pairs: int, n_real: int = 0, gain: float = 1.0, r_min: float = 0.5, r_max: float = 0.99,
                       feedthrough: bool = True, seed: int = 0) -> DeepLinearSSM:
    """Random real shallow target: n_pairs conjugate pole pairs and n_real real poles, |λ| ~ U[r_min, r_max].

    Residues are standard normal (complex for pairs), d standard normal (0 if not `feedthrough`), and the
    whole map is scaled so that ||h||_1 (t < 4096) equals `gain`.
    """
    if n_pairs < 0 or n_real < 0 or n_pairs + n_real == 0:
        raise ValueError(f"need n_pairs, n_real >= 0 with at least one pole; got {n_pairs}, {n_real}.")
    if not 0.0 <= r_min <= r_max < 1.0:
        raise ValueError(f"need 0 <= r_min <= r_max < 1 for a stable target; got r_min={r_min}, r_max={r_max}.")
    rng = np.random.default_rng(seed)
    lam = rng.uniform(r_min, r_max, n_pairs) * np.exp(1j * rng.uniform(0.05, np.pi - 0.05, n_pairs))
    lam_real = rng.uniform(r_min, r_max, n_real) * rng.choice([-1.0, 1.0], n_real)
    r = rng.normal(size=n_pairs) + 1j * rng.normal(size=n_pairs)
    poles = np.concatenate([lam, lam.conj(), lam_real])
    res = np.concatenate([r, r.conj(), rng.normal(size=n_real)])
    d = rng.normal() if feedthrough else 0.0
    t = np.arange(1, 4096)
    h = np.concatenate([[d], np.real((res[None, :] * poles[None, :] ** (t[:, None] - 1)).sum(axis=1))])
    scale = gain / np.abs(h).sum()
    return shallow_from_residues(poles, scale * res, scale * d)
