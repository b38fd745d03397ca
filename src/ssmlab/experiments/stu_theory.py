r"""Theorem 3.1 of the Spectral SSM paper: STU approximation error of a marginally-stable symmetric LDS vs K.

The construction and the least-squares weights are `ssmlab.theory.spectral` [STU, §3, Theorem 3.1,
App. A]: for a symmetric A with |α_l| <= 1 (post-update readout) the STU of eq. (4) (d = 2, k_u = 3)
reproduces y_t - y_{t-2} with M^u = (CB+D, CAB, -D) and spectral weights from the projections of
μ(α)(j) = (α-1)α^j onto the filters; the error is set by the spectral tail of Z, which decays
exponentially in K/log L.

Two routes, both float64: (1) the construction; (2) least squares: eq. (4) minus y_{t-2} is linear
in (M^u, M^{φ±}), fitted on training sequences and evaluated on held-out ones. Errors are
max|ŷ - y| / max|y| of the STU layer itself (ŷ from `ssmlab.layers.STU`, i.e. with its own FFT path
and the eq. (4) recurrence). The least-squares parameters are also evaluated in a float32 layer.
The paper's Fig. 4 plateau (K >= 15) is a training/precision floor: in float64 the error keeps
falling (ours: measured here, the float64 curves have no plateau); the float32 curve shows such a floor.

`run` computes the curves (also saved as stu_error_vs_k.npz) and the claims; `plot` draws the figure
from the metrics alone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ..core.filter_cache import cached_spectral_filters
from ..core.stu import stu_kernels
from ..data.lds import LDS, paper_lds, random_symmetric_lds, simulate_batch
from ..layers.stu import STU
from ..theory.spectral import DELAY, construction_weights, design_matrix, least_squares_weights
from .config import ExperimentConfig
from .plotting import new_figure, save
from .registry import Claim, Experiment, Result, register
from .verdicts import below


@dataclasses.dataclass(frozen=True)
class STUTheoryConfig(ExperimentConfig):
    """Systems, sequence length, filter counts and data sizes of the Theorem 3.1 check."""

    CHOICES = {"systems": ("symmetric", "paper"), "readout": ("post", "pre")}

    def check(self):
        if max(self.ks) > self.seq_len:
            raise ValueError(f"ks must be <= seq_len = {self.seq_len} (K filters of length L); got {max(self.ks)}.")

    seq_len: int = 256
    ks: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24)
    systems: tuple[str, ...] = ("symmetric", "paper")
    state_size: int = 16
    readout: str = "post"
    num_train: int = 8
    num_test: int = 4
    plateau_from: int = 15
    hankel_l: bool = True
    seed: int = 0
    use_cache: bool = True


def make_system(name: str, cfg: STUTheoryConfig, seed: int) -> LDS:
    """'symmetric': N = state_size, eigenvalues U[-1, 1], SISO; 'paper': the §3.1 system (N = 4, 3 -> 3)."""
    if name == "symmetric":
        return random_symmetric_lds(seed=seed, state_size=cfg.state_size, d_in=1, d_out=1)
    if name == "paper":
        return paper_lds(seed=seed)
    raise ValueError(f"systems entries must be 'symmetric' or 'paper'; got {name!r}.")


def _layer_with(layer: STU, m_u, m_plus, m_minus, k_max: int) -> STU:
    dt = layer.m_phi_plus.dtype
    pad = ((0, k_max - m_plus.shape[0]), (0, 0), (0, 0))  # unused filters get zero weight: exactly a K-filter STU
    layer = eqx.tree_at(lambda m: (m.m_u, m.m_phi_plus), layer,
                        (jnp.asarray(m_u, dt), jnp.asarray(np.pad(m_plus, pad), dt)))
    if m_minus is None:
        return layer
    return eqx.tree_at(lambda m: m.m_phi_minus, layer, jnp.asarray(np.pad(m_minus, pad), dt))


_apply = eqx.filter_jit(lambda layer, us: jax.vmap(layer)(us))


def _rel_err(layer: STU, us: np.ndarray, ys: np.ndarray) -> float:
    out = np.asarray(_apply(layer, jnp.asarray(us, layer.m_phi_plus.dtype)), np.float64)
    return float(np.abs(out - ys).max() / np.abs(ys).max())


def _kind_curves(kind: str, lds: LDS, cfg: STUTheoryConfig, data, with_f32: bool) -> dict[str, np.ndarray]:
    """Error vs K of the construction and of least squares (and of the fit in a float32 layer)."""
    u_tr, y_tr, u_te, y_te = data
    k_max = max(cfg.ks)
    sigma, phi = cached_spectral_filters(seq_len=cfg.seq_len, num_filters=k_max, kind=kind, use_cache=cfg.use_cache)
    branches = "both" if kind == "hankel" else "plus"
    x_tr = design_matrix(u_tr, stu_kernels(sigma, phi, filter_delay=DELAY, branches=branches))
    kw = dict(d_model=lds.d_in, d_out=lds.d_out, seq_len=cfg.seq_len, num_filters=k_max, preset="paper_eq4",
              kind=kind, branches=branches, use_cache=cfg.use_cache, key=jr.key(0))
    layer64 = STU(dtype=jnp.float64, **kw)
    layer32 = STU(dtype=jnp.float32, **kw) if with_f32 else None
    curves = {k: np.full(len(cfg.ks), np.nan) for k in ("construction", "least_squares", "least_squares_f32")}
    for i, k in enumerate(cfg.ks):
        if cfg.readout == "post":
            w = construction_weights(lds, sigma, phi, k, kind=kind)
            curves["construction"][i] = _rel_err(_layer_with(layer64, *w, k_max), u_te, y_te)
        w = least_squares_weights(x_tr, y_tr, k, k_max, branches=2 if branches == "both" else 1)
        curves["least_squares"][i] = _rel_err(_layer_with(layer64, *w, k_max), u_te, y_te)
        if layer32 is not None:
            curves["least_squares_f32"][i] = _rel_err(_layer_with(layer32, *w, k_max), u_te, y_te)
    # ∫‖μ(α) - P_K μ(α)‖² dα = Σ_{k>K} σ_k, so the per-α projection error scales like sqrt(σ_{K+1}).
    curves["spectral_tail"] = np.array([np.sqrt(sigma[k] / sigma[0]) if k < sigma.size else np.nan for k in cfg.ks])
    return curves


def _system_curves(name: str, cfg: STUTheoryConfig, key_seed: int) -> dict[str, np.ndarray]:
    lds = make_system(name, cfg, cfg.seed + key_seed)
    rng = np.random.default_rng(cfg.seed + 100 + key_seed)
    u_tr = rng.standard_normal((cfg.num_train, cfg.seq_len, lds.d_in))
    u_te = rng.standard_normal((cfg.num_test, cfg.seq_len, lds.d_in))
    data = (u_tr, simulate_batch(lds, u_tr, readout=cfg.readout), u_te, simulate_batch(lds, u_te, readout=cfg.readout))
    curves = _kind_curves("hankel", lds, cfg, data, with_f32=True)
    if cfg.hankel_l:
        curves.update({f"hankel_l_{k}": v for k, v in _kind_curves("hankel_l", lds, cfg, data, False).items()
                       if k in ("construction", "least_squares")})
    return curves


def _decay(ks: np.ndarray, err: np.ndarray, floor: float = 1e-13) -> tuple[float, float, float]:
    """(decades dropped from first to best K, slope in decades per filter, R² of the log-linear fit above floor)."""
    ok = np.isfinite(err) & (err > floor)
    logs = np.log10(err[ok])
    if ok.sum() < 3:
        return float("nan"), float("nan"), float("nan")
    slope, icpt = np.polyfit(ks[ok], logs, 1)
    resid = logs - (slope * ks[ok] + icpt)
    r2 = 1.0 - float(np.sum(resid**2) / max(np.sum((logs - logs.mean()) ** 2), 1e-300))
    return float(np.log10(err[ok][0]) - np.nanmin(np.log10(err[ok]))), float(slope), r2


def _plateau_ratio(ks: np.ndarray, err: np.ndarray, k0: int) -> float:
    """err(K_max) / err(first K >= k0): ~1 for a plateau, << 1 if the error keeps falling."""
    i0 = int(np.argmax(ks >= k0)) if np.any(ks >= k0) else len(ks) - 1
    return float(err[-1] / err[i0]) if ks[-1] > ks[i0] else float("nan")


CURVE_STYLES = {"construction": ("o-", "construction (f64)"), "least_squares": ("s-", "least squares (f64)"),
                "least_squares_f32": ("^--", "least squares, float32 layer"),
                "spectral_tail": (":", "sqrt(σ_{K+1}/σ_1)"), "hankel_l_construction": ("x-", "Z_L construction (f64)"),
                "hankel_l_least_squares": ("d-", "Z_L least squares (f64)")}


def plot(metrics: dict, out_dir: Path) -> list[Path]:
    """Error vs K per system (both routes, float32 layer, spectral tail), from the metrics `run` wrote."""
    ks, systems = np.asarray(metrics["ks"]), metrics["systems"]
    fig, axes = new_figure(len(systems))
    for ax, name in zip(axes[0], systems, strict=True):
        curves = metrics[name]
        for key, (style, label) in CURVE_STYLES.items():
            y = np.asarray(curves.get(key, []), np.float64)
            if y.size and np.any(np.isfinite(y)):
                ax.semilogy(ks, np.maximum(y, 1e-18), style, label=label, ms=4)
        ax.set(title=f"{name} LDS, L = {metrics['seq_len']}", xlabel="K (filters per branch)",
               ylabel="max |ŷ - y| / max |y| (test)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return [save(fig, out_dir / "stu_error_vs_k.png")]


def _claims(ks: np.ndarray, results: dict, cfg: STUTheoryConfig) -> tuple[list[Claim], dict]:
    claims, metrics = [], {}
    for name, c in results.items():
        drop, slope, r2 = _decay(ks, c["least_squares"])
        k0 = int(ks[ks >= cfg.plateau_from].min(initial=ks[-1]))
        p64 = _plateau_ratio(ks, c["least_squares"], cfg.plateau_from)
        p32 = _plateau_ratio(ks, c["least_squares_f32"], cfg.plateau_from)
        metrics[name] = {"decades_dropped": drop, "slope_decades_per_K": slope, "loglinear_r2": r2,
                         "plateau_ratio_f64": p64, "plateau_ratio_f32": p32,
                         **{f"{k}": [float(x) for x in v] for k, v in c.items()}}
        ok = _decayed(drop, slope, r2, 4)
        claims.append(Claim(f"{name}: STU error decays exponentially in K (Thm 3.1, Fig. 4)",
                            "exponential decay in K",
                            f"least squares: {drop:.1f} decades over K={ks[0]}..{ks[-1]}, slope {slope:.2f} "
                            f"decades/filter, log-linear R² {r2:.2f}", "pass" if ok else "fail"))
        verdict = _plateau_verdict(ok, p64, p32)
        claims.append(Claim(f"{name}: error plateaus for K >= {cfg.plateau_from} (Fig. 4)",
                            f"plateau for K >= {cfg.plateau_from}",
                            f"err(K={ks[-1]})/err(K={k0}): float64 {p64:.1e}, float32 layer {p32:.1e} "
                            "(a plateau only where precision limits it)", verdict))
        tail = np.isfinite(c["spectral_tail"]) & (c["spectral_tail"] > 1e-7) & (ks >= 4)
        if tail.sum() >= 3:
            ratio = c["least_squares"][tail] / c["spectral_tail"][tail]
            spread = float(np.log10(ratio.max() / ratio.min()))
            metrics[name]["err_over_sqrt_tail_decades_spread"] = spread
            claims.append(Claim(f"{name}: error tracks the Hankel spectral tail (Lemma A.4 route)",
                                "error bounded via the tail of Z's spectrum",
                                f"err_LS / sqrt(σ_(K+1)/σ_1) stays within {spread:.1f} decades for K >= 4 while the "
                                f"error itself spans {drop:.1f}", "info"))
        if "hankel_l_least_squares" in c:
            claims.append(_hankel_l_claim(name, ks, c, metrics[name]))
        if cfg.readout == "post":
            both = np.isfinite(c["construction"]) & (ks >= 4)
            gap = float(np.max(c["least_squares"][both] / np.maximum(c["construction"][both], 1e-300)))
            metrics[name]["max_ls_over_construction"] = gap
            claims.append(Claim(f"{name}: least-squares fit is at least as good as the explicit construction",
                                "construction exists (Thm 3.1 proof)",
                                f"max over K>=4 of err_LS/err_construction = {gap:.2f}",
                                below(gap, 10.0)))
    return claims, metrics


def _plateau_verdict(decayed: bool, p64: float, p32: float) -> str:
    """Plateau after the decay (Fig. 4): pass if the float64 fit flattens (err ratio > 0.1 past K0), partial
    if only the float32 layer does; a fit that never decayed has no plateau to show and fails."""
    if not decayed:
        return "fail"
    return "pass" if p64 > 0.1 else "partial" if p32 > 0.1 else "fail"


def _decayed(drop: float, slope: float, r2: float, min_decades: float | int) -> bool:
    """Exponential decay in K: at least `min_decades` decades dropped, falling, log-linear (R² >= 0.8)."""
    return bool(drop >= min_decades and slope < 0 and r2 >= 0.8)


def _first_k_below(ks: np.ndarray, err: np.ndarray, threshold: float) -> int | None:
    hit = np.flatnonzero(err <= threshold)
    return int(ks[hit[0]]) if hit.size else None


def _hankel_l_claim(name: str, ks: np.ndarray, c: dict, metrics: dict) -> Claim:
    """Theorem B.1: one Z_L bank also decays exponentially; compare the K it needs with Z's two branches."""
    drop, slope, r2 = _decay(ks, c["hankel_l_least_squares"])
    thr = 1e-5
    k_z, k_zl = _first_k_below(ks, c["least_squares"], thr), _first_k_below(ks, c["hankel_l_least_squares"], thr)
    metrics.update({"hankel_l_decades_dropped": drop, "hankel_l_slope": slope, "hankel_l_r2": r2,
                    "k_to_1e-5_hankel": k_z, "k_to_1e-5_hankel_l": k_zl})
    ok = _decayed(drop, slope, r2, 3)
    return Claim(f"{name}: one Z_L filter bank also decays exponentially (Thm B.1)", "exponential decay in K",
                 f"{drop:.1f} decades, slope {slope:.2f}/filter, R² {r2:.2f}; K to reach {thr:g}: Z (2 banks of K) "
                 f"{k_z or f'> {ks[-1]}'}, Z_L (1 bank) {k_zl or f'> {ks[-1]}'}", "pass" if ok else "fail")


def run(cfg: STUTheoryConfig, out_dir: Path) -> Result:
    """Fit the STU to random marginally-stable symmetric LDSs for each K; judge the decay (figure: `plot`)."""
    if not cfg.ks or min(cfg.ks) < 1 or max(cfg.ks) > cfg.seq_len or list(cfg.ks) != sorted(set(cfg.ks)):
        raise ValueError(f"ks must be increasing, distinct and in [1, seq_len={cfg.seq_len}]; got {cfg.ks}.")
    if cfg.readout not in ("post", "pre"):
        raise ValueError(f"readout must be 'post' or 'pre'; got {cfg.readout!r}.")
    ks = np.asarray(cfg.ks)
    with jax.enable_x64(True):
        results = {name: _system_curves(name, cfg, i) for i, name in enumerate(cfg.systems)}
    np.savez(out_dir / "stu_error_vs_k.npz", ks=ks,
             **{f"{s}_{k}": v for s, c in results.items() for k, v in c.items()})
    claims, metrics = _claims(ks, results, cfg)
    metrics.update(ks=[int(k) for k in ks], systems=list(cfg.systems), seq_len=cfg.seq_len)
    summary = (f"STU (eq. 4, d = 2, k_u = 3, both branches) fitted to LDSs ({', '.join(cfg.systems)}) at "
               f"L = {cfg.seq_len}, readout '{cfg.readout}', {cfg.num_train} training / {cfg.num_test} test Gaussian "
               "input sequences. "
               "Errors are measured on the STU layer's own output. In float64 the error falls roughly "
               "exponentially with K, tracking the Hankel spectral tail, with no plateau at K ≈ 15: the paper's "
               "plateau is reproduced only as the float32 precision floor.")
    return Result(metrics=metrics, claims=claims, summary=summary)


register(Experiment(
    name="stu-theory",
    paper="Spectral State Space Models (Agarwal et al. 2023), Theorem 3.1 and Fig. 4",
    checks="STU approximation error of marginally-stable symmetric LDSs decays exponentially in K (least squares "
           "and the explicit construction), float64 and float32",
    config_cls=STUTheoryConfig,
    quick=STUTheoryConfig(),
    full=STUTheoryConfig(seq_len=1024, ks=(1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 28, 32),
                         num_train=16, num_test=8),
    run=run,
    plot=plot,
))
