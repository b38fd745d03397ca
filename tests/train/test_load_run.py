"""ssmlab.load_run: a trained run's model comes back from best.npz / checkpoint.npz, damaged files are refused."""

import contextlib
import io
import json
import shutil

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ssmlab
from ssmlab.data.dataset import ArrayDataset, Task
from ssmlab.models.sequence_model import apply_batch
from ssmlab.train.config import TrainConfig, config_hash


_outputs = eqx.filter_jit(lambda m, s, x: apply_batch(m, s, x, inference=True)[0])  # one compile for all


def _toy_task(L=10):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, L, 1)).astype(np.float32)
    xt = rng.normal(size=(12, L, 1)).astype(np.float32)
    label = lambda a: (a[:, : L // 2, 0].sum(axis=1) > 0).astype(np.int32)  # noqa: E731
    # not a registered task: load_run must rebuild the model from config.json alone
    return Task(name="toy-unregistered", train=ArrayDataset(x, label(x)), test=ArrayDataset(xt, label(xt)),
                input_kind="real", num_classes=2, seq_len=L, input_dim=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(task="toy-unregistered", model="lru", depth=1, d_model=8, state_size=4, batch_size=16,
                      epochs=1, lr=1e-2, progress=True, print_every=1)
    task = _toy_task()
    stdout = io.StringIO()  # not a terminal, as under a batch system
    with contextlib.redirect_stdout(stdout):
        res = ssmlab.train(cfg, out, task=task)
    return res, cfg, jnp.asarray(task.test.x[:5]), stdout.getvalue()


@pytest.mark.parametrize("which", ["best", "last"])
def test_loaded_model_gives_the_trained_outputs(trained, which):
    res, cfg, x, _ = trained
    model, state, loaded_cfg = ssmlab.load_run(res.out_dir, which=which)
    assert loaded_cfg == cfg
    want, got = _outputs(res.model, res.state, x), _outputs(model, state, x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))  # one epoch: best = last = final model
    for a, b in zip(jax.tree_util.tree_leaves(model), jax.tree_util.tree_leaves(res.model), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _copy(res, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(res.out_dir, dst)
    return dst


def test_damaged_runs_are_refused_with_the_file_named(trained, tmp_path):
    res, _, _, _ = trained
    run = _copy(res, tmp_path)
    data = (run / "best.npz").read_bytes()
    (run / "best.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"best\.npz is corrupt or truncated"):
        ssmlab.load_run(run)
    record = json.loads((run / "config.json").read_text())
    record["config"]["lr"] = 0.5
    (run / "config.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="edited or damaged"):
        ssmlab.load_run(run, which="last")
    (run / "config.json").write_text("{")
    with pytest.raises(ValueError, match=r"config\.json is corrupt"):
        ssmlab.load_run(run)
    with pytest.raises(ValueError, match="not a training run"):
        ssmlab.load_run(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="which must be one of"):
        ssmlab.load_run(res.out_dir, which="worst")


def test_a_checkpoint_of_another_run_is_refused(trained, tmp_path):
    res, _, _, _ = trained
    run = _copy(res, tmp_path)
    record = json.loads((run / "config.json").read_text())
    record["config"]["seed"] = 1  # a consistent config.json of another run next to this run's checkpoints
    record["config_hash"] = config_hash(TrainConfig(**record["config"]))
    (run / "config.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="config hash"):
        ssmlab.load_run(run)


def test_training_without_a_terminal_prints_plain_lines(trained):
    _, _, _, stdout = trained
    lines = stdout.splitlines()  # 32 examples / batch 16 = 2 steps, one epoch
    assert [ln.split()[:2] for ln in lines[:2]] == [["step", "1/2"], ["step", "2/2"]]
    assert " acc " in lines[0] and " ex/s " in lines[1] and " eta " in lines[1]
    assert lines[2].startswith("epoch 1/1 step 2/2 train_loss ") and "test_accuracy" in lines[2] and len(lines) == 3
