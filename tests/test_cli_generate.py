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
from ssmlab.train.checkpoint import save_checkpoint
from ssmlab.train.config import TrainConfig, config_dict, config_hash
from ssmlab.train.load import load_run
from ssmlab.train.loop import build_model, model_spec
from ssmlab.train.optim import make_optimizer, trainable

runner = CliRunner()


def _task(cfg):
    return make_task(cfg.task, **cfg.task_options)


def _write_config(run_dir, cfg, spec=None):
    """config.json with what `load_run` reads: the config, its hash and the task's model_spec."""
    run_dir.mkdir()
    record = {"config": config_dict(cfg), "config_hash": config_hash(cfg),
              "model_spec": spec or model_spec(_task(cfg))}
    (run_dir / "config.json").write_text(json.dumps(record))


def _save(path, cfg, spec=None, perturb=0.0):
    """A checkpoint of the initial model (leaves shifted by `perturb`) as `ssmlab train` writes it."""
    model, state = build_model(cfg, spec or _task(cfg), jr.key(cfg.seed))
    model = jax.tree.map(lambda x: x + perturb if eqx.is_inexact_array(x) else x, model)
    opt_state = make_optimizer(cfg, model, 10).init(eqx.filter(model, trainable(model)))
    save_checkpoint(path, (model, state, opt_state), header={"config_hash": config_hash(cfg)})
    return model


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run folders as `ssmlab train` leaves them: lm (config only; `lm_model` adds best.npz), untrained (config
    only) and reg (a regression run with its checkpoint: refused as not a byte-level LM)."""
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
    # the spec lds-regression writes for these options (not built here: the task is not needed to load a run)
    reg_spec = {"seq_len": 8, "input_kind": "real", "input_dim": 3, "vocab_size": 0, "num_classes": 0,
                "pooling": "none", "output_dim": 3, "objective": "per_step_regression"}
    _write_config(base / "reg", reg_cfg, reg_spec)
    _save(base / "reg" / "checkpoint.npz", reg_cfg, reg_spec)  # no best.npz: generate falls back to the last one
    return base, cfg


@pytest.fixture(scope="module")
def lm_model(runs):
    """best.npz for the lm run without training: the initial model, perturbed."""
    base, cfg = runs
    return _save(base / "lm" / "best.npz", cfg, perturb=0.01)


@pytest.mark.slow  # builds and loads a model (~10 s on 2 shared cores); errors below are the fast checks
def test_load_run_restores_the_saved_arrays(runs, lm_model):
    base, _ = runs
    model, _, cfg = load_run(base / "lm")
    assert cfg.task == "lm-chars" and model.encoder.num_embeddings == 256
    for a, b in zip(jax.tree.leaves(eqx.filter(model, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(lm_model, eqx.is_array)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="no config.json"):
        load_run(base)


@pytest.mark.parametrize("args, message", [
    (["--run", "{base}/missing", "--prompt", "x"], "is not a directory"),
    (["--run", "{base}", "--prompt", "x"], "not a training run"),
    (["--run", "{base}/untrained", "--prompt", "x"], "checkpoint.npz does not exist"),
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
    model, norm_state, _ = load_run(base / "lm")
    prompt = list(b"imp")
    tokens, _ = generate(model, None, jnp.asarray(prompt), 10, jr.key(0), temperature=0.0)
    assert tokens.tolist() == _greedy_by_full_model(model, norm_state, prompt, tokens.tolist())


@pytest.mark.slow
def test_generate_streams_the_prompt_and_the_tokens(runs, lm_model):
    base, _ = runs
    model, _, _ = load_run(base / "lm")
    tokens, _ = generate(model, None, jnp.asarray(list(b"pr")), 12, jr.key(3), temperature=0.9)
    result = runner.invoke(app, ["generate", "--run", str(base / "lm"), "--prompt", "pr", "--tokens", "12",
                                 "--temperature", "0.9", "--seed", "3"])
    assert result.exit_code == 0, result.output
    expect = "pr" + bytes(tokens.tolist()).decode("utf-8", errors="replace")
    assert result.output == expect + "\n"
