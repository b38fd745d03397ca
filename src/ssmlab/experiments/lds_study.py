r"""Learning a marginally-stable LDS: STU vs LRU (and Mamba), and the LRU ablation [STU, §3.1, Fig. 3, App. C.1].

System (`ssmlab.data.lds.paper_lds`): N = 4, d_in = d_out = 3, A = diag(0.9999 ξ) with random signs ξ,
B, C, diag(D) iid N(0, 1); post-update readout. Each training step draws a fresh input sequence
u ~ N(0, I) of length L (batch size 1) and its exact output y; loss = mean squared error; Adam with a
fixed learning rate from a grid; the runs of a grid are trained together as one vmapped program
(`ssmlab.train.sweep.train_sweep`, objective `PerStepRegression`: the per-step MSE).

Models: one STU layer, preset `paper_eq4` (ŷ_t = ŷ_{t-2} + 3 input taps + K = 25 filters of both
branches, weights initialised to 0); one LRU layer (stable exp parameterisation, γ normalisation, ring
init r ∈ [0, 1), phase ∈ [0, 2π), N = 16); one bare Mamba block (`mamba`, width 3, N = 16, no residual
or norm around it, like the bare STU and LRU layers; its own lr grid): the paper has no Mamba, so its row
is information, not a verdict [Mamba, §3.4]. Ablation: the
LRU's ablation options (`LRU(eigenvalue_param="direct")`: λ = λ_re + iλ_im trained directly;
`gamma_norm=False`: γ = 1) one at a time and both together.

Reported numbers use the normalised loss  ℓ / E[y²]  (1 = the trivial zero predictor), with E[y²]
estimated on held-out sequences. Samples-to-threshold = first step at which the moving average
(window = steps / 50) of the training loss falls to `threshold`; the median over seeds at each model's
best learning rate (best = lowest mean held-out error at the end). Plateau = first step at which the
moving average falls below `plateau_level`.

Why the stable exponential parameterisation is slow here (our derivation, not from the paper): with
|λ| = exp(-exp(ν)), matching |λ| = 0.9999 needs ν = log(-log 0.9999) ≈ -9.21, while the ring init
(|λ|² ~ U[0, 1]) starts a typical mode at ν ≈ log(-½ log ½) ≈ -1.06. Adam moves a parameter by about
lr per step, so reaching the system's memory takes on the order of 8 / lr steps (8,000 at lr = 1e-3);
a direct λ = p + iq only has to travel |Δλ| < 1. The "no exp-param" ablation measures this directly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.random as jr
import numpy as np

from ..data.lds import HELD_OUT_STREAM, held_out_set, paper_lds, save, seed_streams
from ..layers.base import make_layer
from ..train.sweep import Sweep, grid_sweep, train_sweep
from .config import ExperimentConfig
from .plotting import new_figure
from .plotting import save as save_fig
from .registry import Claim, Experiment, Result, register

ABLATIONS = {"no exp-param": {"eigenvalue_param": "direct"}, "no gamma-norm": {"gamma_norm": False},
             "neither": {"eigenvalue_param": "direct", "gamma_norm": False}}
"""The LRU ablation variants of [STU, App. C.1] as `LRU` options (everything else as in the LRU runs)."""
MODELS = ("stu", "lru", "mamba")


@dataclasses.dataclass(frozen=True)
class LDSStudyConfig(ExperimentConfig):
    """Sizes and grids of the study. The system, batch size 1, fixed-lr Adam and K = 25 follow [STU, §3.1,
    App. C.1]; L, the step counts, grids, seeds, thresholds and the LRU/Mamba state sizes are ours (not given)."""

    CHOICES = {"readout": ("post", "pre")}

    def check(self):
        if self.num_filters > self.seq_len:
            raise ValueError(f"num_filters must be <= seq_len = {self.seq_len}; got {self.num_filters}.")

    seq_len: int = 1024
    steps: int = 20_000
    chunk: int = 500
    learning_rates: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    seeds: int = 3
    num_filters: int = 25
    lru_state_size: int = 16
    mamba: bool = True
    mamba_learning_rates: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    mamba_state_size: int = 16
    ablation: bool = True
    ablation_learning_rates: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    ablation_seeds: int = 3
    threshold: float = 0.1
    plateau_level: float = 0.8
    eval_sequences: int = 32
    system_seed: int = 0
    seed: int = 0
    readout: str = "post"


def _check(cfg: LDSStudyConfig) -> None:
    if cfg.steps < 50 or cfg.steps % cfg.chunk:
        raise ValueError(f"steps must be >= 50 and a multiple of chunk; got steps={cfg.steps}, chunk={cfg.chunk}.")
    if cfg.seeds < 1 or cfg.ablation_seeds < 1 or not cfg.learning_rates or (cfg.mamba and not
                                                                               cfg.mamba_learning_rates):
        raise ValueError("need seeds >= 1, ablation_seeds >= 1 and at least one learning rate per grid.")
    if not 0 < cfg.threshold < cfg.plateau_level <= 1:
        raise ValueError(f"need 0 < threshold < plateau_level <= 1; got {cfg.threshold}, {cfg.plateau_level}.")


def moving_average(losses: np.ndarray, window: int) -> np.ndarray:
    """Non-overlapping window means of losses [steps, R] -> [steps // window, R] (NaN stays NaN)."""
    n = losses.shape[0] // window
    return losses[: n * window].reshape(n, window, *losses.shape[1:]).mean(axis=1)


def first_crossing(curve: np.ndarray, level: float, window: int) -> float:
    """Samples seen when the windowed curve first reaches <= level (inf if never)."""
    hits = np.nonzero(np.isfinite(curve) & (curve <= level))[0]
    return float((hits[0] + 1) * window) if hits.size else float("inf")


def summarise_grid(losses, held, sweep: Sweep, norm: float, window: int) -> dict:
    """Per learning rate: smoothed train curves, held-out NMSE curves, learn/stable flags; and the best lr.

    Flags use the held-out curve (a fixed set, so free of the batch-1 sampling noise): `learns` = final
    NMSE <= half the initial one for every seed; `stable` = it never rebounds above its running minimum by
    more than 5 % of the initial (trivial-predictor) NMSE, i.e. no loss spike or divergence.
    """
    curves = moving_average(losses, window) / norm
    held = held / norm
    out = {"lr": {}, "best_lr": None}
    best = (np.inf, None)
    for lr in np.unique(sweep.learning_rates):
        runs = np.nonzero(sweep.learning_rates == lr)[0]
        h = held[:, runs]
        finite = bool(np.all(np.isfinite(h)))
        running_min = np.minimum.accumulate(np.where(np.isfinite(h), h, np.inf), axis=0)
        stable = finite and bool(np.all(h - running_min <= 0.05 * h[0]))
        learns = finite and bool(np.all(h[-1] <= 0.5 * h[0]))
        mean_err = float(np.mean(h[-1])) if finite else float("inf")
        out["lr"][f"{lr:g}"] = {"eval_nmse": [float(e) for e in h[-1]], "mean_eval_nmse": mean_err,
                                "stable": stable, "learns": learns, "curve": curves[:, runs].mean(axis=1).tolist(),
                                "held_out_curve": h.mean(axis=1).tolist()}
        if mean_err < best[0]:
            best = (mean_err, float(lr))
    out["best_lr"] = best[1]
    out["best_eval_nmse"] = best[0]
    return out


def _crossings(losses, sweep, lr, norm, window, level) -> list[float]:
    runs = np.nonzero(sweep.learning_rates == lr)[0]
    curves = moving_average(losses[:, runs], window) / norm
    return [first_crossing(curves[:, i], level, window) for i in range(len(runs))]


def _key(cfg, s) -> jax.Array:
    """Init key of seed s: the same 1000·seed + s as its data stream."""
    return jr.key(1000 * cfg.seed + int(s))


def _build(name: str, lds, cfg, s, **options):
    sizes = {"stu": {"num_filters": cfg.num_filters, "preset": "paper_eq4"},
             "lru": {"state_size": cfg.lru_state_size}, "mamba": {"state_size": cfg.mamba_state_size}}[name]
    return make_layer(name, d_model=lds.d_in, seq_len=cfg.seq_len, key=_key(cfg, s), **sizes, **options)


def _grid(cfg, name: str) -> tuple[float, ...]:
    return cfg.mamba_learning_rates if name == "mamba" else cfg.learning_rates


def _train(name: str, lds, cfg, data, held_out, sweep: Sweep, **options):
    """(per-step losses [steps, R], held-out MSE [steps // chunk + 1, R], trained stacked result) of one grid."""
    models = [_build(name, lds, cfg, s, **options) for s in sweep.seed_index]
    res = train_sweep(models, sweep, data, steps=cfg.steps, chunk=cfg.chunk, eval_data=held_out)
    return res.losses, res.evals["mse"], res


def _train_ablation(lds, cfg, data, held_out):
    """One sweep per variant (its options are static: a different program) over (learning rate, seed)."""
    grid = grid_sweep(cfg.ablation_learning_rates, cfg.ablation_seeds)
    out = {}
    for name, options in ABLATIONS.items():
        losses, held, _ = _train("lru", lds, cfg, data, held_out, grid, **options)
        out[name] = (losses, held, grid)
    return out


def _y_floor(summaries) -> float:
    """Lower y-limit: a decade under the smallest plotted value (at least 1e-8)."""
    vals = [np.nanmin(np.asarray(r[key])) for s in summaries.values() for r in s["lr"].values()
            for key in ("curve", "held_out_curve") if np.any(np.isfinite(r[key]))]
    return max(1e-8, 10 ** np.floor(np.log10(max(min(vals, default=1e-4), 1e-12)) - 0.5))


def _samples_axis(ax, steps: int) -> None:
    if steps >= 5000:
        ax.xaxis.set_major_formatter(lambda v, _: f"{v / 1000:g}k")


def _plot_fig3(metrics: dict, out_dir: Path) -> Path:
    """Train curves per lr of each model, then the best lr of each with its held-out points."""
    setup = metrics["setup"]
    names = [n for n in MODELS if n in metrics]
    steps, window, chunk = setup["steps"], setup["window"], setup["chunk"]
    fig, ax = new_figure(len(names) + 1, width=4.6)
    x = np.arange(1, steps // window + 1) * window
    floor = _y_floor({k: metrics[k] for k in names})
    for i, name in enumerate(names):
        for lr, row in metrics[name]["lr"].items():
            ax[0, i].semilogy(x, np.maximum(row["curve"], 1e-8), label=f"lr {lr}")
        ax[0, i].set(title=f"{name.upper()}: normalised train loss", xlabel="samples", ylim=(floor, 3))
        _samples_axis(ax[0, i], steps)
        ax[0, i].legend(fontsize=7)
    best_ax = ax[0, len(names)]
    x_held = np.arange(steps // chunk + 1) * chunk
    for name, style in zip(names, ("-", "--", "-."), strict=False):
        s = metrics[name]
        if s["best_lr"] is None:
            best_ax.plot([], [], style, label=f"{name.upper()}: diverged at every lr")
            continue
        row = s["lr"][f"{s['best_lr']:g}"]
        line = best_ax.semilogy(x, np.maximum(row["curve"], 1e-8), style, label=f"{name.upper()} (lr {s['best_lr']:g})")
        best_ax.semilogy(x_held, np.maximum(row["held_out_curve"], 1e-8), "o", ms=3, color=line[0].get_color())
    best_ax.axhline(setup["threshold"], color="k", lw=0.8, ls=":", label=f"threshold {setup['threshold']:g}")
    best_ax.set(title="best lr of each (dots: held-out)", xlabel="samples", ylim=(floor, 3))
    _samples_axis(best_ax, steps)
    best_ax.legend(fontsize=7)
    return save_fig(fig, out_dir / "fig3_stu_vs_lru.png")


def _plot_ablation(metrics: dict, out_dir: Path) -> Path:
    summaries = {"LRU (all tricks)": metrics["lru"], **metrics["ablation"]}
    steps, window = metrics["setup"]["steps"], metrics["setup"]["window"]
    fig, ax = new_figure(1, width=5.5)
    x = np.arange(1, steps // window + 1) * window
    for name, s in summaries.items():
        if s["best_lr"] is None:
            ax[0, 0].plot([], [], label=f"{name}: diverged at every lr")
            continue
        ax[0, 0].semilogy(x, np.maximum(s["lr"][f"{s['best_lr']:g}"]["curve"], 1e-8),
                          label=f"{name} (lr {s['best_lr']:g})")
    ax[0, 0].set(title="LRU ablation (best lr of each)", xlabel="samples", ylabel="normalised train loss",
                 ylim=(_y_floor(summaries), 10))
    _samples_axis(ax[0, 0], steps)
    ax[0, 0].legend(fontsize=7)
    return save_fig(fig, out_dir / "lru_ablation.png")


def plot(metrics: dict, out_dir: Path) -> list[Path]:
    """Figure 3 (STU, LRU and Mamba curves) and the LRU ablation, from the metrics `run` wrote."""
    out_dir = Path(out_dir)
    figures = [_plot_fig3(metrics, out_dir)]
    if "ablation" in metrics:
        figures.append(_plot_ablation(metrics, out_dir))
    return figures


def _median(xs: list[float]) -> float:
    return float(np.median(np.asarray(xs))) if xs else float("inf")


def _ratio_claim(stu_n: float, lru_n: float, steps: int) -> Claim:
    if not np.isfinite(stu_n):
        return Claim("LRU needs ≈8× the samples of the STU to reach the threshold", "≈ 8×",
                     "STU never reached the threshold", "fail")
    if np.isfinite(lru_n):
        ratio = lru_n / stu_n
        verdict = "pass" if 4 <= ratio <= 16 else "partial" if ratio >= 2 else "fail"
        return Claim("LRU needs ≈8× the samples of the STU to reach the threshold", "≈ 8×",
                     f"{ratio:.1f}× ({lru_n:.0f} vs {stu_n:.0f} samples)", verdict)
    bound = steps / stu_n
    verdict = "pass" if bound >= 8 else "partial" if bound >= 2 else "fail"
    return Claim("LRU needs ≈8× the samples of the STU to reach the threshold", "≈ 8×",
                 f"> {bound:.1f}× (LRU not there after {steps} samples; STU {stu_n:.0f})", verdict)


def _lr_claim(stu: dict, lru: dict) -> Claim:
    n = len(stu["lr"])
    count = {k: sum(r["stable"] and r["learns"] for r in s["lr"].values()) for k, s in (("stu", stu), ("lru", lru))}
    ok = count["stu"] >= max(1, n - 2) and count["stu"] > count["lru"]
    verdict = "pass" if ok else "partial" if count["stu"] >= max(1, count["lru"]) else "fail"
    return Claim("STU loss falls steadily over a wide learning-rate range", "wide range (grid not recoverable)",
                 f"steady decrease at {count['stu']}/{n} lrs (LRU: {count['lru']}/{n})", verdict)


def _plateau_claim(f_stu: float, f_lru: float) -> Claim:
    ok_gap = f_lru > 0 and f_lru >= 3 * f_stu  # neither flat (both 0) is no plateau, not a partial
    verdict = "pass" if ok_gap and 0.25 <= f_lru <= 0.75 else "partial" if ok_gap else "fail"
    return Claim("LRU loss is flat for about the first 50 % of training", "≈ 50 %",
                 f"LRU {100 * f_lru:.0f} % of training before its loss drops 20 % (STU {100 * f_stu:.0f} %)", verdict)


def _ablation_claims(abl: dict, lru_best: float) -> list[Claim]:
    claims = []
    for name, s in abl.items():
        err = s["best_eval_nmse"]
        fails = not np.isfinite(err) or err >= 0.5
        verdict = "pass" if fails else "partial" if err >= 2 * lru_best else "fail"
        ours = "diverged at every lr" if not np.isfinite(err) else f"best held-out NMSE {err:.3g} (LRU {lru_best:.3g})"
        claims.append(Claim(f"LRU ablation '{name}' does not learn the system", "does not learn (NMSE ≥ 0.5)",
                            ours, verdict))
    return claims


def _mamba_claim(summ: dict, cross: dict) -> Claim:
    """Information only: no paper trains Mamba on this system [STU, §3.1 has STU and LRU]."""
    m = summ["mamba"]
    n = _median(cross["mamba"])
    reach = f"{n:.0f} samples to the threshold" if np.isfinite(n) else "never reached the threshold"
    ours = ("diverged at every lr" if m["best_lr"] is None else
            f"best held-out NMSE {m['best_eval_nmse']:.3g} at lr {m['best_lr']:g}, {reach} (median over seeds); "
            f"STU {summ['stu']['best_eval_nmse']:.3g} ({_median(cross['stu']):.0f}), LRU "
            f"{summ['lru']['best_eval_nmse']:.3g} ({_median(cross['lru']):.0f})")
    return Claim("Mamba (selective SSM) next to STU and LRU on the marginally-stable LDS",
                 "no published comparison (our addition)", ours, "info")


def run(cfg: LDSStudyConfig, out_dir: Path) -> Result:
    """Train the STU, LRU (and Mamba) learning-rate grids and the LRU ablation on the paper's LDS (Figure 3)."""
    _check(cfg)
    out_dir = Path(out_dir)
    lds = paper_lds(seed=cfg.system_seed)
    save(lds, out_dir / "lds_system.npz")
    held_out, norm = held_out_set(lds, seq_len=cfg.seq_len, num_sequences=cfg.eval_sequences, seed=cfg.seed,
                                  readout=cfg.readout)
    window = max(cfg.steps // 50, 1)
    data = seed_streams(lds, seq_len=cfg.seq_len, chunk=cfg.chunk, num_streams=max(cfg.seeds, cfg.ablation_seeds),
                        seed=cfg.seed, readout=cfg.readout)
    names = [n for n in MODELS if n != "mamba" or cfg.mamba]
    sweeps = {n: grid_sweep(_grid(cfg, n), cfg.seeds) for n in names}
    trained = {n: _train(n, lds, cfg, data, held_out, sweeps[n]) for n in names}
    summ = {n: summarise_grid(lo, he, sweeps[n], norm, window) for n, (lo, he, _) in trained.items()}
    arrays = {"learning_rates": sweeps["lru"].learning_rates, "seed_index": sweeps["lru"].seed_index,
              "norm": np.asarray(norm)}
    for n, (lo, he, _) in trained.items():
        arrays.update({f"{n}_losses": lo, f"{n}_held_out": he})
    if cfg.mamba:
        arrays["mamba_learning_rates"] = sweeps["mamba"].learning_rates
    cross, plateau = {}, {}
    for name, (losses, _, _) in trained.items():
        best = summ[name]["best_lr"]
        cross[name] = _crossings(losses, sweeps[name], best, norm, window, cfg.threshold) if best else []
        plateau[name] = _crossings(losses, sweeps[name], best, norm, window, cfg.plateau_level) if best else []
    medians = {n: _median(cross[n]) for n in names}
    fractions = {n: min(_median(plateau[n]), cfg.steps) / cfg.steps for n in names}
    lru_res, best_lr = trained["lru"][2], summ["lru"]["best_lr"]
    best_runs = np.nonzero(sweeps["lru"].learning_rates == best_lr)[0] if best_lr else []
    radius = [float(np.max(np.abs(np.asarray(lru_res.model(int(r)).eigenvalues)))) for r in best_runs]
    metrics = {"normaliser_E_y2": norm, **summ,
               "samples_to_threshold": {**cross, **{f"median_{n}": m for n, m in medians.items()}},
               "plateau_fraction": fractions, "lru_learned_spectral_radius": radius,
               "setup": {"steps": cfg.steps, "chunk": cfg.chunk, "window": window, "threshold": cfg.threshold}}
    claims = [_lr_claim(summ["stu"], summ["lru"]), _ratio_claim(medians["stu"], medians["lru"], cfg.steps),
              _plateau_claim(fractions["stu"], fractions["lru"]),
              Claim("LRU learns |λ| close to the system's 0.9999", "needed to fit the LDS",
                    f"max |λ| after training at the best lr: {', '.join(f'{r:.5f}' for r in radius)}", "info")]
    if cfg.mamba:
        claims.append(_mamba_claim(summ, cross))
    if cfg.ablation:
        abl = _train_ablation(lds, cfg, data, held_out)
        summ_abl = {n: summarise_grid(lo, he, sw, norm, window) for n, (lo, he, sw) in abl.items()}
        metrics["ablation"] = summ_abl
        arrays.update({f"ablation_{n.replace(' ', '_')}_losses": v[0] for n, v in abl.items()})
        claims += _ablation_claims(summ_abl, summ["lru"]["best_eval_nmse"])
    np.savez(out_dir / "lds_study_losses.npz", **arrays)
    mamba = (f", Mamba N={cfg.mamba_state_size} at lr ∈ {list(cfg.mamba_learning_rates)} (best "
             f"{summ['mamba']['best_lr']}, held-out NMSE {summ['mamba']['best_eval_nmse']:.3g})" if cfg.mamba else "")
    summary = (
        f"Paper LDS (system seed {cfg.system_seed}, N=4, 3→3, ρ=0.9999), L={cfg.seq_len}, {cfg.steps} steps of batch "
        f"1, Adam at fixed lr ∈ {list(cfg.learning_rates)}, {cfg.seeds} seed(s) per lr (seed s: data stream and "
        f"init key {1000 * cfg.seed}+s, s = 0..{cfg.seeds - 1}; held-out stream {1000 * cfg.seed + HELD_OUT_STREAM}), "
        f"STU K={cfg.num_filters} (paper_eq4, zero init), LRU N={cfg.lru_state_size}{mamba}. Best lr: STU "
        f"{summ['stu']['best_lr']}, LRU {summ['lru']['best_lr']}; held-out NMSE {summ['stu']['best_eval_nmse']:.3g} "
        f"vs {summ['lru']['best_eval_nmse']:.3g}. Samples to NMSE ≤ {cfg.threshold:g} (median over seeds): STU "
        f"{medians['stu']:.0f}, LRU {medians['lru']:.0f}."
        + (f" Ablation: {cfg.ablation_seeds} seed(s) × lr ∈ {list(cfg.ablation_learning_rates)} per variant."
           if cfg.ablation else "")
    )
    return Result(metrics=metrics, claims=claims, summary=summary)


register(Experiment(
    name="lds-study",
    paper="Spectral SSM (Agarwal et al.) §3.1, Fig. 3, App. C.1",
    checks="STU vs LRU on a marginally-stable LDS: samples to threshold, LR robustness, LRU plateau, LRU ablation",
    config_cls=LDSStudyConfig,
    quick=LDSStudyConfig(seq_len=256, steps=1000, chunk=100, seeds=2, ablation_learning_rates=(1e-3, 3e-3, 1e-2),
                         mamba_learning_rates=(3e-3, 1e-2),
                         ablation_seeds=1, eval_sequences=16),
    full=LDSStudyConfig(),
    run=run,
    plot=plot,
))
