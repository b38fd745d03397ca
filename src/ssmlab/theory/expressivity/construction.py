r"""Width -> depth factorisation and the norm-bounded deep construction [DepthWidth, abstract] (ours: R2-R4).

A shallow SISO SSM H(z) = d + Σ_i r_i/(z - λ_i) with distinct poles factors as

    H(z) = κ Π_{i<=n-ρ} (z - ζ_i) / Π_{i<=n} (z - λ_i),

with ρ the relative degree (0 when d ≠ 0), κ = h_ρ its first non-zero Markov parameter and ζ its
zeros (eigenvalues of diag(λ) - b c / d, or finite generalised eigenvalues of the Rosenbrock pencil
when d = 0). Zeros are paired with their nearest poles into *blocks* that are real rational
functions of degree <= 2 (a conjugate pole pair with a conjugate zero pair or up to two real zeros;
a real pole with a real zero or none; two real poles with a conjugate zero pair). Each block
P/Q = D_b + Σ r_b,i/(z - λ_i) is one layer of width <= 2 (R2: depth <= n, width <= 2, O(n) parameters).

Under a norm bound M (R3) block b may be scaled by g <= g_max(b) = min(M/|D_b|, M²/max_i|r_b,i|)
(entrywise; M²/Σ_i|r_b,i| under the spectral norm), with balanced |b_i| = |c_i|. Blocks that do not
fit are scaled down to g_max; the leftover gain G = κ / Π g_b is absorbed into the blocks' spare room
and the rest spread over J = ceil(log|G| / log M) pure-gain layers (|D| = |G|^{1/J} <= M). Hence (R4)

    K*(target, M) <= N_blocks + max(0, ceil(log(|κ| Π_b max(1, 1/g_max(b))) / log M)),   N_blocks <= n.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.linalg

from .models import (
    DeepLinearSSM,
    NormKind,
    SISOLayer,
    balanced_factors,
    check_bound,
    check_norm_kind,
    check_x64,
)


class Block(NamedTuple):
    """One real factor Π(z - ζ)/Π(z - λ) of a transfer function (conjugate-closed poles and zeros)."""

    poles: np.ndarray
    zeros: np.ndarray


class Factorisation(NamedTuple):
    """H(z) = gain * Π_b block_b(z): the gain κ, the blocks and the relative degree."""

    gain: float
    blocks: tuple[Block, ...]
    relative_degree: int


def _shallow_parts(shallow: DeepLinearSSM) -> tuple[np.ndarray, np.ndarray, float]:
    if shallow.depth != 1:
        raise ValueError(f"expected a shallow (depth-1) model; got depth {shallow.depth}. Use deep_to_shallow first.")
    lay = shallow.plain().layers[0]
    poles, res = np.asarray(lay.a, complex), np.asarray(lay.residues, complex)
    if poles.size > 1:
        gaps = np.abs(poles[:, None] - poles[None, :]) + np.eye(poles.size)
        if gaps.min() < 1e-9:
            raise ValueError("the shallow model has (nearly) repeated poles; merge their residues into one mode "
                             "(Σ r/(z-λ) over equal λ is one term) before factorising.")
    return poles, res, float(lay.d)


def transfer_zeros(poles: np.ndarray, residues: np.ndarray, d: float) -> tuple[np.ndarray, float, int]:
    """Zeros ζ, gain κ and relative degree ρ of H(z) = d + Σ r_i/(z - λ_i) (module doc)."""
    n = poles.size
    s = np.sqrt(residues.astype(complex))
    if d != 0.0:
        return np.linalg.eigvals(np.diag(poles) - np.outer(s, s) / d), float(d), 0
    markov = [np.sum(residues * poles ** (t - 1)) for t in range(1, n + 1)]
    scales = [np.sum(np.abs(residues) * np.abs(poles) ** (t - 1)) + 1e-300 for t in range(1, n + 1)]
    rel = next((t for t in range(1, n + 1) if abs(markov[t - 1]) > 1e-10 * scales[t - 1]), None)
    if rel is None:
        raise ValueError("the target's transfer function is identically zero (all residues cancel); "
                         "there is nothing to factorise.")
    pencil_a = np.block([[np.diag(poles), s[:, None]], [s[None, :], np.zeros((1, 1))]])
    pencil_b = np.block([[np.eye(n), np.zeros((n, 1))], [np.zeros((1, n + 1))]])
    alpha, beta = scipy.linalg.eigvals(pencil_a, pencil_b, homogeneous_eigvals=True)
    finiteness = np.abs(beta) / (np.abs(alpha) + np.abs(beta))
    finite = np.argsort(-finiteness)[: n - rel]
    return alpha[finite] / beta[finite], float(np.real(markov[rel - 1])), rel


def _split_conjugates(x: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(real values, upper members of conjugate pairs), snapping pairs to exact conjugates."""
    tol = 1e-8 * np.maximum(1.0, np.abs(x))
    real = x[np.abs(x.imag) <= tol].real
    upper = list(x[x.imag > tol])
    lower = list(x[x.imag < -tol])
    if len(upper) != len(lower):
        raise ValueError(f"the {what} are not closed under conjugation, so the map is not real; "
                         "pair every complex mode with its conjugate.")
    pairs = []
    for u in upper:
        j = int(np.argmin(np.abs(np.asarray(lower) - np.conj(u))))
        pairs.append(0.5 * (u + np.conj(lower.pop(j))))
    return np.asarray(real, float), np.asarray(pairs, complex)


def _greedy_pairs(dist: np.ndarray):
    """Yield (i, j) in increasing dist[i, j], each row and column used once."""
    used_i, used_j = set(), set()
    for flat in np.argsort(dist, axis=None):
        i, j = np.unravel_index(flat, dist.shape)
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            yield int(i), int(j)


def pair_poles_and_zeros(poles: np.ndarray, zeros: np.ndarray) -> tuple[Block, ...]:
    """Group zeros with their nearest poles into real blocks of degree <= 2 (module doc)."""
    p_real, p_pair = _split_conjugates(poles, "poles")
    z_real, z_pair = _split_conjugates(zeros, "zeros")
    pair_zeros: list[list[complex]] = [[] for _ in p_pair]
    real_zeros: list[list[float]] = [[] for _ in p_real]
    merged: list[Block] = []
    free_real = set(range(p_real.size))
    left = set(range(z_pair.size))
    if p_pair.size and z_pair.size:
        for zi, pi in _greedy_pairs(np.abs(z_pair[:, None] - p_pair[None, :])):
            pair_zeros[pi] += [z_pair[zi], np.conj(z_pair[zi])]
            left.discard(zi)
    for zi in sorted(left, key=lambda k: abs(z_pair[k].imag)):
        near = sorted(free_real, key=lambda k: abs(p_real[k] - z_pair[zi]))[:2]
        if len(near) < 2:
            raise ValueError("more complex zeros than poles can hold; the target is not a proper real system.")
        free_real -= set(near)
        merged.append(Block(p_real[near].astype(complex), np.array([z_pair[zi], np.conj(z_pair[zi])])))
    # Real zeros: slots are empty conjugate-pole blocks (2 each) and free real poles (1 each).
    slots = [("pair", k) for k in range(p_pair.size) if not pair_zeros[k]] * 2 + [("real", k) for k in free_real]
    slot_poles = np.array([p_pair[k] if kind == "pair" else p_real[k] for kind, k in slots], complex)
    if z_real.size > len(slots):
        raise ValueError("more real zeros than free pole slots; the target is not a proper real system.")
    if z_real.size:
        for zi, si in _greedy_pairs(np.abs(z_real[:, None] - slot_poles[None, :])):
            kind, k = slots[si]
            (pair_zeros if kind == "pair" else real_zeros)[k].append(complex(z_real[zi]))
    blocks = [Block(np.array([p, np.conj(p)]), np.asarray(zs, complex))
              for p, zs in zip(p_pair, pair_zeros, strict=True)]
    blocks += [Block(np.array([p_real[k]], complex), np.asarray(real_zeros[k], complex)) for k in sorted(free_real)]
    return tuple(blocks + merged)


def factorise(shallow: DeepLinearSSM) -> Factorisation:
    """H(z) = κ Π_b P_b(z)/Q_b(z) with monic real blocks of degree <= 2 (R2, module doc)."""
    check_x64("factorise")
    poles, res, d = _shallow_parts(shallow)
    zeros, kappa, rel = transfer_zeros(poles, res, d)
    return Factorisation(kappa, pair_poles_and_zeros(poles, zeros), rel)


def block_realisation(block: Block) -> tuple[np.ndarray, float]:
    """Residues r_i = Π_k(λ_i - ζ_k) / Π_{j≠i}(λ_i - λ_j) and feedthrough D_b (1 if proper, else 0)."""
    lam, zeta = block.poles, block.zeros
    diff = lam[:, None] - lam[None, :] + np.eye(lam.size)
    res = np.prod(lam[:, None] - zeta[None, :], axis=1) / np.prod(diff, axis=1)
    if lam.size == 2 and abs(lam[0].imag) > 0 and abs(lam[0] - np.conj(lam[1])) < 1e-12 * max(1, abs(lam[0])):
        res[1] = np.conj(res[0])
    elif np.all(lam.imag == 0):
        res = res.real.astype(complex)
    return res, 1.0 if zeta.size == lam.size else 0.0


def block_headroom(block: Block, *, bound: float, kind: NormKind = "inf") -> float:
    """Largest scale g with the layer g·block inside the norm ball: min(M/|D_b|, M²/max|r|) (or M²/Σ|r|)."""
    res, d_b = block_realisation(block)
    coupling = np.abs(res).max() if kind == "inf" else np.abs(res).sum()
    return min(bound / d_b if d_b else math.inf, bound**2 / coupling if coupling > 0 else math.inf)


def _block_layer(block: Block, scale: float) -> SISOLayer:
    res, d_b = block_realisation(block)
    b, c = balanced_factors(scale * res)
    return SISOLayer(block.poles, b, c, scale * d_b)


def _gain_layers(gain: float, count: int) -> list[SISOLayer]:
    mag = abs(gain) ** (1.0 / count)
    empty = np.zeros((0,), complex)
    return [SISOLayer(empty, empty, empty, math.copysign(mag, gain) if i == 0 else mag) for i in range(count)]


def _ceil_log(x: float, bound: float) -> int:
    """ceil(log x / log M) with a little slack so exact powers of M are not rounded up."""
    return max(0, math.ceil(math.log(x) / math.log(bound) - 1e-13)) if x > 1 else 0


def realise(fact: Factorisation, *, bound: float | None = None, kind: NormKind = "inf",
            absorb: bool = True) -> DeepLinearSSM:
    """Deep model for κ Π blocks: one layer per block plus gain layers; every layer inside ||θ|| <= M (R3).

    bound=None: no constraint, κ goes into the first block (R2). absorb=False: the literal construction
    (blocks scaled down to fit, the whole leftover gain on ceil(log|G|/log M) gain layers).
    """
    check_x64("realise")
    check_norm_kind(kind)
    blocks, gain = fact.blocks, float(fact.gain)
    if bound is None:
        scales = [1.0] * len(blocks)
        if not blocks:
            return DeepLinearSSM(_gain_layers(gain, 1))
        scales[0] = gain
        return DeepLinearSSM([_block_layer(b, s) for b, s in zip(blocks, scales, strict=True)])
    check_bound(bound)
    room = [block_headroom(b, bound=bound, kind=kind) for b in blocks]
    scales = [min(1.0, g) for g in room]
    mag = abs(gain) / math.prod(scales)
    if absorb or mag <= 1.0:
        for i, g in enumerate(room):
            factor = min(g / scales[i], mag) if mag > 1.0 else mag
            scales[i] *= factor
            mag /= factor
            if mag <= 1.0 + 1e-15:
                break
    if bound == 1.0 and mag > 1.0 + 1e-12:
        raise ValueError(f"bound M={bound} leaves a gain {mag:.3g} > 1 that no layer can carry (each gain layer "
                         "multiplies by at most M); use a bound M > 1.")
    count = _ceil_log(mag, bound) if mag > 1.0 + 1e-15 else 0
    if blocks:
        scales[0] = math.copysign(scales[0], gain)
    else:
        count = max(count, 1)
    layers = [_block_layer(b, s) for b, s in zip(blocks, scales, strict=True)]
    return DeepLinearSSM(layers + (_gain_layers(math.copysign(mag, gain) if not blocks else mag, count)
                                   if count else []))


def shallow_to_deep(shallow: DeepLinearSSM, *, bound: float | None = None, kind: NormKind = "inf",
                    absorb: bool = True) -> DeepLinearSSM:
    """Deep SSM with the same transfer function as `shallow`, every layer within `bound` if given (R2/R3)."""
    return realise(factorise(shallow), bound=bound, kind=kind, absorb=absorb)


def depth_upper_bound(shallow: DeepLinearSSM, *, bound: float, kind: NormKind = "inf") -> int:
    """N_blocks + max(0, ceil(log(|κ| Π_b max(1, 1/g_max(b))) / log M)) (R4; at least 1)."""
    check_bound(bound)
    check_norm_kind(kind)
    fact = factorise(shallow)
    if bound == 1.0:
        raise ValueError("depth_upper_bound needs M > 1 (with M = 1 no layer can amplify).")
    need = abs(fact.gain) * math.prod(max(1.0, 1.0 / block_headroom(b, bound=bound, kind=kind)) for b in fact.blocks)
    return max(1, len(fact.blocks) + _ceil_log(need, bound))


def depth_bound_formula(*, n: int, gain: float, pole_zero_gaps, bound: float) -> int:
    """R4 as first stated: n + 1 + max(0, ceil(log(|κ| Π_i max(1, |λ_i - ζ_i|/M²)) / log M)) from raw inputs.

    `pole_zero_gaps` are |λ_i - ζ_i| over the paired poles and zeros (unpaired poles contribute 1). The first
    statement has the ceiling without max(0, ·), which makes the bound negative for small |κ| (κ = 1e-6,
    M = 2 gives n + 1 - 19); the clamp is ours (docs/theory/depth-vs-width.md §5, item 3).
    """
    check_bound(bound)
    if bound == 1.0:
        raise ValueError("depth_bound_formula needs M > 1 (with M = 1 no layer can amplify).")
    prod = abs(gain) * math.prod(max(1.0, float(g) / bound**2) for g in pole_zero_gaps)
    return n + 1 + _ceil_log(prod, bound)


def spec_depth_bound(shallow: DeepLinearSSM, *, bound: float) -> int:
    """`depth_bound_formula` for a shallow model, pairing zeros with their nearest poles within each block."""
    fact = factorise(shallow)
    gaps = []
    for blk in fact.blocks:
        if blk.zeros.size:
            gaps += [abs(blk.poles[i] - blk.zeros[j])
                     for i, j in _greedy_pairs(np.abs(blk.poles[:, None] - blk.zeros[None, :]))]
    n = sum(b.poles.size for b in fact.blocks)
    return depth_bound_formula(n=n, gain=fact.gain, pole_zero_gaps=gaps, bound=bound)


def _merge(a: Block, b: Block) -> Block:
    return Block(np.concatenate([a.poles, b.poles]), np.concatenate([a.zeros, b.zeros]))


def _absorbed_depth(blocks, gain: float, bound: float, kind: NormKind) -> int:
    """Depth N_blocks + J when every block is scaled up to its headroom before adding gain layers."""
    room = math.prod(block_headroom(b, bound=bound, kind=kind) for b in blocks)
    return max(1, len(blocks) + _ceil_log(abs(gain) / room, bound))


def minimal_depth_search(shallow: DeepLinearSSM, *, bound: float, kind: NormKind = "inf",
                         max_width: int = 2) -> DeepLinearSSM:
    """Shallowest deep model found greedily: merge blocks (width <= max_width) while depth drops, then absorb.

    Returns the realised model (every layer within the bound); its depth is <= `depth_upper_bound`.
    """
    check_bound(bound)
    if bound == 1.0:
        raise ValueError("minimal_depth_search needs M > 1 (with M = 1 no layer can amplify).")
    if not isinstance(max_width, int) or max_width < 2:
        raise ValueError(f"max_width must be an integer >= 2 (conjugate pole blocks have width 2); got {max_width}.")
    fact = factorise(shallow)
    blocks = list(fact.blocks)
    depth = _absorbed_depth(blocks, fact.gain, bound, kind)
    while len(blocks) > 1:
        best = None
        for i in range(len(blocks)):
            for j in range(i + 1, len(blocks)):
                if blocks[i].poles.size + blocks[j].poles.size > max_width:
                    continue
                trial = [b for k, b in enumerate(blocks) if k not in (i, j)] + [_merge(blocks[i], blocks[j])]
                cand = _absorbed_depth(trial, fact.gain, bound, kind)
                if cand < depth and (best is None or cand < best[0]):
                    best = (cand, trial)
        if best is None:
            break
        depth, blocks = best
    return realise(Factorisation(fact.gain, tuple(blocks), fact.relative_degree), bound=bound, kind=kind)


def hinf_lower_estimate(model: DeepLinearSSM, *, points: int = 4096) -> float:
    """max_k |H(e^{2πik/points})|: a lower estimate of the H∞ norm sup_ω |H(e^{iω})| (grid maximum)."""
    z = np.exp(2j * np.pi * np.arange(points) / points)
    h = np.ones_like(z)
    for lay in model.plain().layers:  # numpy: avoids one XLA compilation per layer shape
        a, r = np.asarray(lay.a), np.asarray(lay.residues)
        h = h * (float(lay.d) + (r[None, :] / (z[:, None] - a[None, :])).sum(axis=1))
    return float(np.max(np.abs(h)))


def depth_lower_bound(target: DeepLinearSSM, *, bound: float, width: int, rho: float, kind: NormKind = "inf") -> int:
    """K >= log ||H||_∞ / log(M + w M²/(1-ρ)) for any exact deep model with layer widths <= w, poles |a| <= ρ.

    Each such layer has ||H_l||_∞ <= ||h_l||_1 <= M + w M²/(1-ρ) (R5; M + M²/(1-ρ) under the spectral
    norm) and ||Π_l H_l||_∞ <= Π_l ||H_l||_∞. With the R4 upper bound this pins the minimal depth of
    stable-layer models to Θ(log G) (constants differ). ||H||_∞ is estimated from below on a grid, which
    keeps the bound valid.
    """
    from .models import shallow_gain_bound

    per_layer = shallow_gain_bound(width=width, bound=bound, rho=rho, kind=kind)
    gain = hinf_lower_estimate(target)
    return max(1, math.ceil(math.log(gain) / math.log(per_layer) - 1e-12)) if gain > 1 else 1
