"""`ssmlab generate`: loading a run, one-line user errors (exit 2), streamed text."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from typer.testing import CliRunner

from ssmlab.cli import app
from ssmlab.data import make_task
from ssmlab.layers import LRUSpec
from ssmlab.models.generate import generate
from ssmlab.train._load import _load_model
from ssmlab.train.checkpoint import save_checkpoint
from ssmlab.train.config import TrainConfig, config_dict, config_hash
from ssmlab.train.loop import build_model
from ssmlab.train.optim import make_optimizer, trainable

runner = CliRunner()


def _write_config(run_dir, cfg):
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"config": config_dict(cfg)}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run folders as `ssmlab train` leaves them: lm (config only; `lm_model` adds best.npz) and reg (config)."""
    base = tmp_path_factory.mktemp("gen")
    corpus = base / "corpus"
    corpus.mkdir()
    for i in range(8):
        (corpus / f"f{i}.py").write_text("import os\nprint(os.name)\n" * (4 + i))
    opts = {"root": str(corpus), "seq_len": 16, "val_fraction": 0.25, "test_fraction": 0.25}
    cfg = TrainConfig(task="lm-chars", layer=LRUSpec(state_size=4), depth=1, d_model=8, task_options=opts,
                      progress=False)
    _write_config(base / "lm", cfg)
    _write_config(base / "untrained", cfg)
    reg_cfg = TrainConfig(task="lds-regression", layer=LRUSpec(state_size=4), depth=1, d_model=8,
                          task_options={"seq_len": 8, "num_train": 4, "num_val": 2, "num_test": 2}, progress=False)
    _write_config(base / "reg", reg_cfg)  # refused from its config alone, before a model is built
    return base, cfg


@pytest.fixture(scope="module")
def lm_model(runs):
    """best.npz for the lm run without training: the initial model, perturbed."""
    base, cfg = runs
    model, state = build_model(cfg, _task(cfg), jr.key(cfg.seed))
    model = jax.tree.map(lambda x: x + 0.01 if eqx.is_inexact_array(x) else x, model)
    opt_state = make_optimizer(cfg, model, 10).init(eqx.filter(model, trainable(model)))
    save_checkpoint(base / "lm" / "best.npz", (model, state, opt_state), header={"config_hash": config_hash(cfg)})
    return model


def _task(cfg):
    return make_task(cfg.task, **cfg.task_options)


@pytest.mark.slow  # builds and loads a model (~10 s on 2 shared cores); errors below are the fast checks
def test_load_model_restores_the_saved_arrays(runs, lm_model):
    base, _ = runs
    model, _, cfg, task = _load_model(base / "lm")
    assert cfg.task == "lm-chars" and task.vocab_size == 256
    for a, b in zip(jax.tree.leaves(eqx.filter(model, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(lm_model, eqx.is_array)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="no config.json"):
        _load_model(base)


@pytest.mark.parametrize("args, message", [
    (["--run", "{base}/missing", "--prompt", "x"], "is not a directory"),
    (["--run", "{base}", "--prompt", "x"], "not a training run"),
    (["--run", "{base}/untrained", "--prompt", "x"], "no best.npz or checkpoint.npz"),
    (["--run", "{base}/reg", "--prompt", "x"], "not a byte-level language model"),
    (["--run", "{base}/lm", "--prompt", ""], "must not be empty"),
    (["--run", "{base}/lm", "--prompt", "x", "--tokens", "-1"], "--tokens must be >= 0"),
    (["--run", "{base}/lm", "--prompt", "x", "--temperature", "-0.5"], "--temperature must be"),
])
def test_generate_user_errors_are_one_line_exit_2(runs, args, message):
    base, _ = runs
    result = runner.invoke(app, ["generate"] + [a.format(base=base) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output


def _greedy_by_full_model(model, state, prompt, tokens):
    """Independent route: one call of the whole (causal) model on prompt + tokens; the arg-max at each step
    t >= P - 1 is what greedy decoding of the prefix up to t must have produced."""
    seq = jnp.asarray(list(prompt) + list(tokens))
    logits, _ = eqx.filter_jit(lambda m, x: m(x, state, inference=True))(model, seq)
    return jnp.argmax(logits[len(prompt) - 1: -1], axis=-1).tolist()


@pytest.mark.slow
def test_greedy_generation_of_the_loaded_model_equals_the_full_model_on_the_growing_prefix(runs, lm_model):
    base, _ = runs
    model, norm_state, _, _ = _load_model(base / "lm")
    prompt = list(b"imp")
    tokens, _ = generate(model, None, jnp.asarray(prompt), 10, jr.key(0), temperature=0.0)
    assert tokens.tolist() == _greedy_by_full_model(model, norm_state, prompt, tokens.tolist())


@pytest.mark.slow
def test_generate_streams_the_prompt_and_the_tokens(runs, lm_model):
    base, _ = runs
    model, _, _, _ = _load_model(base / "lm")
    tokens, _ = generate(model, None, jnp.asarray(list(b"pr")), 12, jr.key(3), temperature=0.9)
    result = runner.invoke(app, ["generate", "--run", str(base / "lm"), "--prompt", "pr", "--tokens", "12",
                                 "--temperature", "0.9", "--seed", "3"])
    assert result.exit_code == 0, result.output
    expect = "pr" + bytes(tokens.tolist()).decode("utf-8", errors="replace")
    assert result.output == expect + "\n"
