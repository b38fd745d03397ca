"""Small character-level language models: STU, LRU and S4D on the Python standard library's sources.

Each layer is trained with the shared loop on task `lm-chars` (bytes of the stdlib's top-level .py files,
split by file; see `ssmlab.data.text_corpus`) with the same budget: same width, depth, batch size,
number of steps, learning-rate schedule and seed. Validation loss (bits per character = bits per byte)
is evaluated after every epoch and plotted. After training, each model generates text from a fixed prompt
through its step API (`ssmlab.generate`) and its generation speed is timed (tokens/s after compilation,
batch 1, one `lax.scan` over steps).

Verdict per layer: "pass" if the final validation bits/char is below the unigram entropy of the
validation bytes (computed by counting, independently of any model; no context-free model can do
better on those bytes), "partial" if it is only below 8 bits (uniform over bytes), else "fail".
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import jax.numpy as jnp
import jax.random as jr

from ..data.text_corpus import split_bytes, unigram_entropy_bits
from ..layers import layer_names, layer_spec
from ..models.generate import generate, tokens_per_second
from ..train._load import _load_model
from ..train.config import TrainConfig
from ..train.loop import train
from . import verdicts
from .config import ExperimentConfig
from .plotting import new_figure, save
from .registry import Claim, Experiment, Result, register

LAYER_OPTIONS = {"stu": {"preset": "official"}}  # the structure that trained best on digits (see experiments/digits.py)


@dataclasses.dataclass(frozen=True)
class LMSmallConfig(ExperimentConfig):
    """Corpus size, model size and the shared training budget."""

    layers: tuple[str, ...] = ("stu", "lru", "s4d")
    seq_len: int = 128
    max_files: int = 64
    max_windows: int = 2048  # windows per split (0 = all)
    d_model: int = 64
    depth: int = 2
    state_size: int = 32  # LRU/S4D states per channel
    batch_size: int = 32
    epochs: int = 10
    lr: float = 3e-3
    prompt: str = "def "
    sample_tokens: int = 200
    sample_temperature: float = 0.8  # seeded, so the samples in the report are reproducible; 0 = greedy
    speed_tokens: int = 512
    seed: int = 0


def _task_options(cfg: LMSmallConfig) -> dict:
    return {"seq_len": cfg.seq_len, "max_files": cfg.max_files, "max_windows": cfg.max_windows}


def _train_one(layer: str, cfg: LMSmallConfig, out_dir: Path) -> dict:
    state = {"state_size": cfg.state_size} if layer in ("lru", "s4d", "linear_ssm") else {}
    tc = TrainConfig(task="lm-chars", layer=layer_spec(layer, **state, **LAYER_OPTIONS.get(layer, {})),
                     depth=cfg.depth, d_model=cfg.d_model,
                     batch_size=cfg.batch_size, epochs=cfg.epochs, lr=cfg.lr, weight_decay=0.01, warmup_frac=0.1,
                     task_options=_task_options(cfg), seed=cfg.seed,
                     progress=False, log_every=10_000)
    run_dir = out_dir / layer
    for name in ("checkpoint.npz", "best.npz"):  # a fresh run each time the experiment is reproduced
        (run_dir / name).unlink(missing_ok=True)
    res = train(tc, run_dir)
    hist = [h for h in res.history if "val_loss" in h]
    out = {"epochs": [h["epoch"] for h in hist], "steps": res.summary["steps"],
           "val_bits": [h["val_bits_per_token"] for h in hist], "train_loss": [h["train_loss"] for h in res.history],
           "final_val_bits": hist[-1]["val_bits_per_token"], "final_test_bits": res.summary.get("test_bits_per_token"),
           "final_val_accuracy": hist[-1]["val_accuracy"], "wall_s": res.summary["wall_s"],
           "parameters": res.summary["parameters"]}
    out.update(_generation(run_dir, cfg))
    return out


def _generation(run_dir: Path, cfg: LMSmallConfig) -> dict:
    """A text sample and tokens/s of the best checkpoint, or why the model cannot step."""
    model, _, _, _ = _load_model(run_dir)
    prompt = jnp.asarray(list(cfg.prompt.encode()), jnp.int32)
    try:
        tokens, _ = generate(model, None, prompt, cfg.sample_tokens, jr.key(cfg.seed), cfg.sample_temperature)
        speed = tokens_per_second(model, prompt, cfg.speed_tokens, jr.key(cfg.seed + 1), repeats=2)
    except (TypeError, ValueError, NotImplementedError) as err:
        return {"sample": None, "tokens_per_s": None, "generation_error": f"{type(err).__name__}: {err}"}
    text = cfg.prompt + bytes(int(t) for t in tokens).decode("utf-8", errors="replace")
    return {"sample": text, "tokens_per_s": speed}


def _plot(curves: dict[str, dict], entropy: float, out_dir: Path) -> Path:
    fig, ax = new_figure(1)
    for name, c in curves.items():
        ax[0, 0].plot(c["epochs"], c["val_bits"], marker="o", ms=3, label=name)
    ax[0, 0].axhline(entropy, color="k", ls="--", lw=0.8, label=f"unigram entropy {entropy:.2f}")
    ax[0, 0].set(title="lm-chars (stdlib .py): validation loss", xlabel="epoch", ylabel="bits per character")
    ax[0, 0].legend()
    return save(fig, out_dir / "lm_small_val_loss.png")


def run(cfg: LMSmallConfig, out_dir: Path) -> Result:
    """Train each available layer as a char LM (one budget); claims: val bits/char vs the unigram entropy."""
    data = split_bytes(None, max_files=cfg.max_files)
    val = data["validation"]
    n = (len(val) - 1) // cfg.seq_len
    n = min(n, cfg.max_windows) if cfg.max_windows else n
    entropy = unigram_entropy_bits(val[1: n * cfg.seq_len + 1])  # exactly the validation windows' targets
    available = set(layer_names())
    layers = [n for n in cfg.layers if n in available]
    curves = {n: _train_one(n, cfg, out_dir) for n in layers}
    claims = []
    for name, c in curves.items():
        bits = c["final_val_bits"]
        verdict = verdicts.below(bits, entropy, math.log2(256))
        speed = f", generation {c['tokens_per_s']:.0f} tokens/s" if c["tokens_per_s"] else ""
        claims.append(Claim(f"{name} char LM beats the unigram entropy of the validation bytes",
                            f"< {entropy:.3f} bits/char (unigram, counted)",
                            f"{bits:.3f} bits/char after {c['steps']} steps ({c['wall_s']:.0f} s){speed}", verdict))
    for name in sorted(set(cfg.layers) - available):
        claims.append(Claim(f"{name} char LM beats the unigram entropy", "-", "layer not registered", "info"))
    fig = _plot(curves, entropy, out_dir) if curves else None
    samples = "\n".join(f"[{n}] {c['sample']!r}" if c["sample"] else f"[{n}] no sample ({c['generation_error']})"
                        for n, c in curves.items())
    summary = (f"Byte-level LM on {cfg.max_files} stdlib .py files (L = {cfg.seq_len}, width {cfg.d_model}, "
               f"depth {cfg.depth}, {cfg.epochs} epochs, batch {cfg.batch_size}); unigram entropy of the validation "
               f"bytes {entropy:.3f} bits. " + "; ".join(f"{n}: val {c['final_val_bits']:.3f} bits/char"
                                                        for n, c in curves.items())
               + f".\nSamples (prompt {cfg.prompt!r}, T = {cfg.sample_temperature}):\n{samples}")
    return Result(metrics={"curves": curves, "unigram_entropy_bits": entropy}, claims=claims,
                  figures=[fig] if fig else [], summary=summary)


register(Experiment(
    name="lm-small",
    paper="Small character-level LMs (STU, LRU, S4D) on the Python standard library's sources",
    checks="each layer's validation bits/char is below the corpus' unigram entropy; curves, samples, tokens/s",
    config_cls=LMSmallConfig,
    quick=LMSmallConfig(seq_len=64, max_files=24, max_windows=192, d_model=32, depth=1, state_size=16,
                        batch_size=16, epochs=6, lr=1e-2, sample_tokens=80, speed_tokens=256),
    full=LMSmallConfig(),
    run=run,
))
