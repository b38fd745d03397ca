"""`ssmlab generate`: loading a run, one-line user errors (exit 2), streamed text."""

import json

import equinox as eqx
import jax
import jax.random as jr
import numpy as np
import pytest
from typer.testing import CliRunner

from ssmlab.cli import app
from ssmlab.data import make_task
from ssmlab.train._load import _load_model
from ssmlab.train.checkpoint import save_checkpoint
from ssmlab.train.config import TrainConfig, config_dict, config_hash
from ssmlab.train.loop import build_model
from ssmlab.train.optim import make_optimizer, trainable

runner = CliRunner()


def _fake_run(run_dir, cfg, task):
    """A run directory as `ssmlab train` leaves it (config.json + best.npz), without training: perturbed init."""
    model, state = build_model(cfg, task, jr.key(cfg.seed))
    model = jax.tree.map(lambda x: x + 0.01 if eqx.is_inexact_array(x) else x, model)
    opt_state = make_optimizer(cfg, model, 10).init(eqx.filter(model, trainable(model)))
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"config": config_dict(cfg)}))
    save_checkpoint(run_dir / "best.npz", (model, state, opt_state), header={"config_hash": config_hash(cfg)})
    return model


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("gen")
    corpus = base / "corpus"
    corpus.mkdir()
    for i in range(8):
        (corpus / f"f{i}.py").write_text("import os\nprint(os.name)\n" * (4 + i))
    opts = f"root={corpus};seq_len=16;val_fraction=0.25;test_fraction=0.25"
    cfg = TrainConfig(task="lm-chars", model="lru", depth=1, d_model=8, state_size=4, task_options=opts,
                      progress=False)
    lm = _fake_run(base / "lm", cfg, make_task("lm-chars", root=str(corpus), seq_len=16, val_fraction=0.25,
                                               test_fraction=0.25))
    reg_cfg = TrainConfig(task="lds-regression", model="lru", depth=1, d_model=8, state_size=4,
                          task_options="seq_len=8;num_train=4;num_val=2;num_test=2", progress=False)
    (base / "reg").mkdir()  # refused from its config alone, before a model is built
    (base / "reg" / "config.json").write_text(json.dumps({"config": config_dict(reg_cfg)}))
    return base, lm


def test_load_model_restores_the_saved_arrays(runs):
    base, saved = runs
    model, _, cfg, task = _load_model(base / "lm")
    assert cfg.task == "lm-chars" and task.vocab_size == 256
    for a, b in zip(jax.tree.leaves(eqx.filter(model, eqx.is_array)), jax.tree.leaves(eqx.filter(saved, eqx.is_array)),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="no config.json"):
        _load_model(base)


@pytest.mark.parametrize("args, message", [
    (["--run", "{base}/missing", "--prompt", "x"], "is not a directory"),
    (["--run", "{base}", "--prompt", "x"], "not a training run"),
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
