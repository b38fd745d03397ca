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
from ssmlab.layers import LRUSpec
from ssmlab.models.sequence_model import apply_batch
from ssmlab.train import checkpoint as ckpt
from ssmlab.train.config import TrainConfig, config_from_dict, config_hash

_outputs = eqx.filter_jit(lambda m, s, x: apply_batch(m, s, x, inference=True)[0])  # one compile for all


def _toy_task(L=10):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(36, L, 1)).astype(np.float32)  # 32 train + 4 held out for validation
    xt = rng.normal(size=(12, L, 1)).astype(np.float32)
    label = lambda a: (a[:, : L // 2, 0].sum(axis=1) > 0).astype(np.int32)  # noqa: E731
    # not a registered task: load_run must rebuild the model from config.json alone
    return Task(name="toy-unregistered", train=ArrayDataset(x, label(x)), test=ArrayDataset(xt, label(xt)),
                input_kind="real", num_classes=2, seq_len=L, input_dim=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(task="toy-unregistered", layer=LRUSpec(state_size=4), depth=1, d_model=8, batch_size=16,
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
    record["config_hash"] = config_hash(config_from_dict(record["config"]))
    (run / "config.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="config hash"):
        ssmlab.load_run(run)


def test_training_without_a_terminal_prints_plain_lines(trained):
    _, _, _, stdout = trained
    lines = stdout.splitlines()  # 32 training examples / batch 16 = 2 steps, one epoch
    assert [ln.split()[:2] for ln in lines[:2]] == [["step", "1/2"], ["step", "2/2"]]
    assert " acc " in lines[0] and " ex/s " in lines[1] and " eta " in lines[1]
    assert lines[2].startswith("epoch 1/1 step 2/2 train_loss ") and "val_accuracy" in lines[2] and len(lines) == 3


def test_model_selection_on_validation_and_test_read_once(trained):
    res, _, _, _ = trained
    records = [json.loads(line) for line in (res.out_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["event"] == "epoch"]
    tests = [r for r in records if "test_accuracy" in r]
    assert epochs and all("val_accuracy" in r and "test_accuracy" not in r for r in epochs)
    assert len(tests) == 1 and tests[0]["event"] == "test" and tests[0]["model"] == "best.npz"
    assert res.summary["best_accuracy"] == max(r["val_accuracy"] for r in epochs)
    # the recorded test accuracy is that of best.npz's model on the 12 test examples, computed here directly
    model, state, _ = ssmlab.load_run(res.out_dir, which="best")
    task = _toy_task()
    predicted = np.argmax(np.asarray(_outputs(model, state, jnp.asarray(task.test.x))), axis=1)
    assert res.summary["test_accuracy"] == pytest.approx(float(np.mean(predicted == task.test.y)))
    assert ckpt.read_header(res.out_dir / "checkpoint.npz")["test"]["test_accuracy"] == res.summary["test_accuracy"]


def test_a_forged_test_result_is_refused(trained):
    res, cfg, _, _ = trained
    path = res.out_dir / "checkpoint.npz"
    header = ckpt.read_header(path)
    record = json.loads((res.out_dir / "config.json").read_text())
    kw = dict(steps_per_epoch=record["steps_per_epoch"], total_steps=record["total_steps"], seed=cfg.seed,
              key_data=np.asarray(jax.random.key_data(jax.random.key(cfg.seed))).tolist())
    ckpt.check_run_header(header, path, **kw)
    for forged, match in ((header["test"] | {"test_accuracy": 1.5}, "out of range"),
                          (header["test"] | {"step": header["step"] + 1}, "not a step of this run"),
                          ({"test_accuracy": 0.5}, "must hold step")):
        with pytest.raises(ValueError, match=match):
            ckpt.check_run_header(header | {"test": forged}, path, **kw)
