r"""STU error vs number of filters K on the marginally-stable LDS [STU, Fig. 4 (paper-rev Fig. 3b), Thm. 3.1].

Two curves on the same system (`paper_lds`, L as configured, post-update readout):

* **trained**: STUs (preset `paper_eq4`, zero init) trained with Adam on fresh batch-1 sequences, one run
  per K. All K are trained together (one vmapped program, `ssmlab.train.sweep.train_sweep`): every run is
  an STU with K_max filters whose spectral weights for k >= K are masked to 0 (`mask_filters`), which is
  exactly an STU with K filters.
* **least squares**: the STU output is linear in its weights θ = (M^u, M^{φ±}) (the ŷ_{t-2} recurrence is
  fixed), so y(θ) = J θ with J = ∂y/∂θ computed once in float64 by `jax.jacfwd`; θ_K minimises the squared
  error over the training sequences using only the columns of the first K filters. This is the best any
  training can do with K filters (on those sequences) — Theorem 3.1's approximation error, measured.

Both report the held-out normalised MSE  mean (ŷ - y)² / mean y².  The paper shows an exponential decay in K
followed by a plateau for K >= 15; in float64 the least-squares error has no plateau by K = 24 (ours: measured
with this experiment's least-squares curve, `least_squares_k_grid`), so a plateau is a training / float32
floor. Both curves are shown.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.flatten_util import ravel_pytree

from ..data.lds import HELD_OUT_STREAM, LDS, LDSStream, held_out_set, paper_lds, random_symmetric_lds, seed_streams
from ..layers.base import make_layer
from ..layers.stu import STU
from ..train.optim import trainable
from ..train.sweep import Sweep, cosine_to_zero, train_sweep
from .config import ExperimentConfig
from .plotting import new_figure
from .plotting import save as save_fig
from .registry import Claim, Experiment, Result, register
from .verdicts import above, plateau_after_decay


@dataclasses.dataclass(frozen=True)
class LDSFiltersConfig(ExperimentConfig):
    """K grid, training length and least-squares sizes of the filters study."""

    CHOICES = {"systems": ("paper", "uniform"), "readout": ("post", "pre")}

    def check(self):
        if max(self.num_filters) > self.seq_len:
            raise ValueError(f"num_filters must be <= seq_len = {self.seq_len}; got {max(self.num_filters)}.")

    seq_len: int = 1024
    num_filters: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 10, 12, 15, 18, 21, 25)
    steps: int = 20_000
    chunk: int = 500
    learning_rate: float = 1e-2
    cosine: bool = True
    seeds: int = 3
    eval_sequences: int = 32
    systems: tuple[str, ...] = ("paper", "uniform")
    least_squares: bool = True
    ls_train_sequences: int = 16
    system_seed: int = 0
    seed: int = 0
    readout: str = "post"


def _check(cfg: LDSFiltersConfig) -> None:
    ks = cfg.num_filters
    if not ks or any(k < 1 for k in ks) or list(ks) != sorted(set(ks)) or max(ks) > cfg.seq_len:
        raise ValueError(f"num_filters must be increasing positive ints <= seq_len; got {ks}.")
    if cfg.steps < 1 or cfg.steps % cfg.chunk or cfg.seeds < 1:
        raise ValueError(f"need steps a multiple of chunk and seeds >= 1; got {cfg.steps}, {cfg.chunk}, {cfg.seeds}.")
    for name in cfg.systems:
        if name not in SYSTEM_TITLES:
            raise ValueError(f"systems entries must be one of {sorted(SYSTEM_TITLES)}; got {name!r}.")


def _stu(lds: LDS, cfg, k_max: int, dtype, seed: int):
    return make_layer("stu", d_model=lds.d_in, seq_len=cfg.seq_len, key=jr.key(seed), num_filters=k_max,
                      preset="paper_eq4", dtype=dtype)


def mask_filters(model: STU, mask: jax.Array) -> STU:
    """Parameter mask of a K sweep: spectral weights of filters k with mask[k] = 0 are held at 0.

    With zero-initialised weights and Adam, a masked weight gets zero gradient and zero update, so a
    run with mask 1[k < K] is exactly an STU with K filters (the filters of Z do not depend on K).
    """
    m = mask.astype(model.m_phi_plus.dtype)[:, None, None]
    model = eqx.tree_at(lambda s: s.m_phi_plus, model, model.m_phi_plus * m)
    if model.m_phi_minus is not None:
        model = eqx.tree_at(lambda s: s.m_phi_minus, model, model.m_phi_minus * m)
    return model


def train_k_grid(lds: LDS, cfg: LDSFiltersConfig, held_out: dict) -> np.ndarray:
    """Held-out MSE [steps//chunk + 1, len(K) * seeds] of trained STUs, run r = i_K * seeds + seed."""
    ks, k_max = np.asarray(cfg.num_filters), max(cfg.num_filters)
    n = len(ks) * cfg.seeds
    sweep = Sweep(np.full(n, cfg.learning_rate), np.tile(np.arange(cfg.seeds), len(ks)),
                  np.repeat(np.arange(len(ks)), cfg.seeds))
    masks = jnp.asarray(np.arange(k_max)[None, :] < ks[:, None])
    models = [_stu(lds, cfg, k_max, jnp.float32, 1000 * cfg.seed + int(s)) for s in sweep.seed_index]
    data = seed_streams(lds, seq_len=cfg.seq_len, chunk=cfg.chunk, num_streams=cfg.seeds, seed=cfg.seed,
                        readout=cfg.readout)
    res = train_sweep(models, sweep, data, steps=cfg.steps, chunk=cfg.chunk, masks=masks, mask_fn=mask_filters,
                      eval_data=held_out, schedule=cosine_to_zero(cfg.steps) if cfg.cosine else None)
    return res.evals["mse"]


def stu_jacobian(model, xs) -> tuple[np.ndarray, np.ndarray]:
    """(J [E·L·d_out, P] = ∂ŷ/∂θ of the STU over sequences xs [E, L, d_in], filter index of each column; -1 = M^u)."""
    params, static = eqx.partition(model, trainable(model))
    flat, unravel = ravel_pytree(params)

    def labels_of(leaf_name: str, leaf):
        if not leaf_name.startswith("m_phi"):
            return jnp.full(leaf.shape, -1.0, flat.dtype)
        return jnp.broadcast_to(jnp.arange(leaf.shape[0], dtype=flat.dtype)[:, None, None], leaf.shape)

    labels = params
    for name in ("m_phi_plus", "m_phi_minus", "m_u"):
        leaf = getattr(params, name)
        if leaf is not None:
            labels = eqx.tree_at(lambda p, n=name: getattr(p, n), labels, labels_of(name, leaf))
    col_filter, _ = ravel_pytree(labels)

    def out(theta, x):
        return eqx.combine(unravel(theta), static)(x)

    jac = jax.jit(jax.vmap(jax.jacfwd(out), in_axes=(None, 0)))(flat, xs)  # [E, L, d_out, P]
    return np.asarray(jac).reshape(-1, flat.size), np.asarray(col_filter)


def least_squares_k_grid(lds: LDS, cfg: LDSFiltersConfig) -> np.ndarray:
    """Held-out NMSE [len(K)] of the least-squares optimal STU weights with K filters (float64)."""
    k_max = max(cfg.num_filters)
    with jax.enable_x64(True):
        model = _stu(lds, cfg, k_max, jnp.float64, 0)
        train = LDSStream(lds, seq_len=cfg.seq_len, batch_size=cfg.ls_train_sequences, seed=1000 * cfg.seed + 777,
                          readout=cfg.readout, dtype="float64").batch(0)
        test, norm = held_out_set(lds, seq_len=cfg.seq_len, num_sequences=cfg.eval_sequences, seed=cfg.seed,
                                  readout=cfg.readout, dtype="float64")
        j_train, col_k = stu_jacobian(model, jnp.asarray(train["x"]))
        j_test, _ = stu_jacobian(model, jnp.asarray(test["x"]))
    out = []
    for k in cfg.num_filters:
        cols = col_k < k  # M^u columns carry -1
        theta, *_ = np.linalg.lstsq(j_train[:, cols], train["y"].reshape(-1), rcond=None)
        out.append(float(np.mean((j_test[:, cols] @ theta - test["y"].reshape(-1)) ** 2) / norm))
    return np.asarray(out)


def _decay_claim(ks, err, label: str) -> tuple[Claim, float]:
    """Decay factor err(K_1) / err(largest K <= 8): exponential decay in K shows as orders of magnitude."""
    small = [i for i, k in enumerate(ks) if k <= 8]
    factor = float(err[0] / err[small[-1]]) if np.all(np.isfinite(err)) and err[small[-1]] > 0 else float("nan")
    return Claim(f"{label} error decays fast in K (K = {ks[0]} → {ks[small[-1]]})", "exponential decay",
                 f"{factor:.3g}× lower", above(factor, 10, 2)), factor


def _plateau_claim(ks, trained, ls, decay_verdict: str) -> tuple[Claim, float]:
    """Plateau: going from the first K >= 15 to the largest K gains less than 2× on the trained curve.

    It counts only after the trained curve decayed (`decay_verdict` of `_decay_claim`): a curve that is
    flat from K = 1 on has no plateau, it never learned from the extra filters.
    """
    big = [i for i, k in enumerate(ks) if k >= 15]
    if len(big) < 2:
        return Claim("trained STU error plateaus for K ≥ 15", "plateau", "K grid has < 2 values ≥ 15", "info"), 1.0
    gain = float(trained[big[0]] / trained[big[-1]])
    ls_gain = float(ls[big[0]] / ls[big[-1]]) if ls is not None else float("nan")
    verdict = plateau_after_decay(decay_verdict, 0.5 <= gain <= 2)
    no_decay = "; no decay before it" if decay_verdict == "fail" else ""
    return Claim("trained STU error plateaus for K ≥ 15", "plateau (paper-rev Fig. 3b)",
                 f"K {ks[big[0]]}→{ks[big[-1]]}: trained {gain:.3g}× lower; least squares {ls_gain:.3g}× lower"
                 + no_decay, verdict), gain


SYSTEM_TITLES = {"paper": "paper LDS (A = diag(±0.9999))", "uniform": "symmetric A, eigenvalues U[-1, 1], N = 16"}


def make_system(name: str, seed: int) -> LDS:
    """The study's systems: "paper" (`paper_lds`) or "uniform" (symmetric, N = 16, λ ~ U[-1, 1], 3 → 3).

    "uniform" is ours: a spectrum that fills [-1, 1], still inside Theorem 3.1's class (symmetric A, ‖A‖ ≤ 1)
    [STU, Thm. 3.1]."""
    if name == "paper":
        return paper_lds(seed=seed)
    if name == "uniform":
        return random_symmetric_lds(seed=seed, state_size=16, d_in=3, d_out=3, eig_min=-1.0, eig_max=1.0)
    raise ValueError(f"systems entries must be 'paper' or 'uniform'; got {name!r}.")


def plot(metrics: dict, out_dir: Path) -> list[Path]:
    """Figure 4 (held-out NMSE vs K per system: trained runs and the least-squares optimum), from the metrics."""
    ks = np.asarray(metrics["num_filters"])
    results = {name: metrics[name] for name in metrics["systems"]}
    fig, ax = new_figure(len(results), width=5.0)
    for i, (name, r) in enumerate(results.items()):
        runs = np.asarray(r["trained_nmse_runs"])
        ax[0, i].semilogy(ks, runs.mean(axis=1), "o-", label="trained (Adam, float32)")
        if runs.shape[1] > 1:
            ax[0, i].fill_between(ks, runs.min(axis=1), runs.max(axis=1), alpha=0.2)
        if "least_squares_nmse" in r:
            ax[0, i].semilogy(ks, r["least_squares_nmse"], "s--", label="least-squares optimum (float64)")
        ax[0, i].set(xlabel="number of filters K", ylabel="held-out NMSE", title=SYSTEM_TITLES[name])
        ax[0, i].legend(fontsize=8)
    return [save_fig(fig, Path(out_dir) / "fig4_error_vs_filters.png")]


def _one_system(name: str, cfg: LDSFiltersConfig, out_dir: Path) -> tuple[dict, list[Claim]]:
    lds = make_system(name, cfg.system_seed)
    held_out, norm = held_out_set(lds, seq_len=cfg.seq_len, num_sequences=cfg.eval_sequences, seed=cfg.seed,
                                  readout=cfg.readout)
    held = train_k_grid(lds, cfg, held_out) / norm
    ks = list(cfg.num_filters)
    trained_runs = held[-1].reshape(len(ks), cfg.seeds)
    trained = trained_runs.mean(axis=1) if np.all(np.isfinite(trained_runs)) else np.full(len(ks), np.nan)
    ls = least_squares_k_grid(lds, cfg) if cfg.least_squares else None
    np.savez(out_dir / f"lds_filters_{name}.npz", num_filters=np.asarray(ks), trained_held_out=held,
             least_squares=np.asarray([]) if ls is None else ls)
    c_tr, f_tr = _decay_claim(ks, trained, f"[{name}] trained STU")
    claims = [c_tr]
    res = {"trained_nmse": trained.tolist(), "trained_nmse_runs": trained_runs.tolist(), "trained_decay_factor": f_tr}
    if ls is not None:
        c_ls, f_ls = _decay_claim(ks, ls, f"[{name}] least-squares STU")
        claims.append(c_ls)
        res.update({"least_squares_nmse": ls.tolist(), "least_squares_decay_factor": f_ls})
    c_pl, gain = _plateau_claim(ks, trained, ls, c_tr.verdict)
    claims.append(dataclasses.replace(c_pl, claim=f"[{name}] {c_pl.claim}"))
    res["plateau_gain_trained"] = gain
    return res, claims


def run(cfg: LDSFiltersConfig, out_dir: Path) -> Result:
    """Per system: train STUs for every K (one vmapped sweep) and fit the least-squares optimum per K; Figure 4."""
    _check(cfg)
    out_dir = Path(out_dir)
    results, claims = {}, []
    for name in cfg.systems:
        results[name], c = _one_system(name, cfg, out_dir)
        claims += c
    ks = list(cfg.num_filters)
    summary = (f"Systems {list(cfg.systems)} (system seed {cfg.system_seed}), L={cfg.seq_len}. Trained: {cfg.seeds} "
               f"seed(s) per K (data stream / init key {1000 * cfg.seed}+s; held-out stream "
               f"{1000 * cfg.seed + HELD_OUT_STREAM}), {cfg.steps} steps of batch 1, "
               f"Adam lr {cfg.learning_rate:g}"
               f"{' with cosine decay to 0' if cfg.cosine else ''}, float32; K ∈ {ks}. "
               + (f"Least squares: {cfg.ls_train_sequences} training sequences, float64. " if cfg.least_squares
                  else "")
               + f"Held-out NMSE on {cfg.eval_sequences} sequences.")
    return Result(metrics={"num_filters": ks, "systems": list(cfg.systems), **results}, claims=claims,
                  summary=summary)


register(Experiment(
    name="lds-filters",
    paper="Spectral SSM (Agarwal et al.) Fig. 4 (paper-rev Fig. 3b), Theorem 3.1",
    checks="STU held-out error vs number of filters K: trained (vmapped over K) and least-squares optimum",
    config_cls=LDSFiltersConfig,
    quick=LDSFiltersConfig(seq_len=128, num_filters=(1, 2, 4, 6, 8, 12, 16, 20, 25), steps=1500, chunk=250,
                           seeds=1, eval_sequences=16, ls_train_sequences=8),
    full=LDSFiltersConfig(),
    run=run,
    plot=plot,
))
