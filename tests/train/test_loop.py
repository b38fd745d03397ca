"""Training loop: resume after an interruption = uninterrupted run; NaN stop; checkpoint refusal; JSONL."""

import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.data.dataset import ArrayDataset, Task, with_validation
from ssmlab.layers import LRUSpec
from ssmlab.train.checkpoint import load_checkpoint, read_header, save_checkpoint
from ssmlab.train.config import TrainConfig
from ssmlab.train.loop import TrainingDiverged, checkpoint_step, train
from ssmlab.train.metrics import MetricsLog


def _task(n=53, L=12, seed=0):  # 48 train after the 5-example validation hold-out
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, L, 1)).astype(np.float32)
    y = (x[:, : L // 2, 0].sum(axis=1) > 0).astype(np.int32)
    xt = rng.normal(size=(20, L, 1)).astype(np.float32)
    yt = (xt[:, : L // 2, 0].sum(axis=1) > 0).astype(np.int32)
    return Task(name="toy", train=ArrayDataset(x, y), test=ArrayDataset(xt, yt), input_kind="real", num_classes=2,
                seq_len=L, input_dim=1)


def _cfg(**kw):
    base = dict(task="toy", layer=LRUSpec(state_size=4), depth=1, d_model=8, batch_size=16, epochs=2, lr=1e-2,
                dropout=0.1, progress=False, log_every=1)
    return TrainConfig(**(base | kw))


def _flat(model):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(model)]


def test_resume_equals_uninterrupted_run(tmp_path):
    task = _task()
    full = train(_cfg(), tmp_path / "full", task=task)
    # interrupted by a callback mid-epoch 2 (3 steps per epoch); `max_steps` stops are covered by the CLI test
    part = train(_cfg(), tmp_path / "part", task=task, callback=lambda step, loss: step == 4)
    assert not part.finished and checkpoint_step(tmp_path / "part") == 4
    resumed = train(_cfg(), tmp_path / "part", task=task, resume=True)
    assert resumed.finished
    for a, b in zip(_flat(full.model), _flat(resumed.model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [h["val_accuracy"] for h in full.history] == [h["val_accuracy"] for h in resumed.history]
    assert full.summary["test_accuracy"] == resumed.summary["test_accuracy"]
    records = [json.loads(line) for line in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "resumed" for r in records)
    assert json.loads((tmp_path / "full" / "config.json").read_text())["config"]["layer"]["name"] == "lru"
    steps = [r for r in records if r.get("event") == "step"]
    # 6 steps, int(0.1 * 6) = 0 warm-up steps: cosine from lr at step 0 towards lr_min at step 6
    lr, lr_min = _cfg().lr, _cfg().lr_min
    expect = [lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * s / 6)) for s in range(6)]
    assert [r["lr"] for r in steps] == pytest.approx(expect, rel=1e-5)


def test_rewind_drops_what_a_resume_repeats(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in (1, 2, 3):
        log.write({"event": "step", "step": step, "loss": 0.5})
    log.write({"event": "epoch", "step": 3, "train_loss": 0.5})
    # what a kill after the checkpoint at step 3 leaves behind: step 4 logged, then a torn line
    log.write({"event": "step", "step": 4, "loss": 0.5})
    with log.path.open("a") as fh:
        fh.write('{"event": "st')
    assert log.rewind(3) == 2 and [(r["event"], r["step"]) for r in log.read()][-2:] == [("step", 3), ("epoch", 3)]
    # the checkpoint of step 3 was written before the epoch's evaluation: its epoch record goes too
    assert log.rewind(3, keep_epoch_end=False) == 1 and log.read()[-1] == {"event": "step", "step": 3, "loss": 0.5}
    # a kill can cut only the final newline: the line stays (it is whole) and the newline comes back
    log.path.write_text(log.path.read_text()[:-1])
    assert log.rewind(3) == 0 and log.path.read_text().endswith("}\n") and len(log.read()) == 3


def test_nan_loss_stops_with_clear_message(tmp_path):
    task = _task()
    with pytest.raises(TrainingDiverged, match="learning rate"):
        train(_cfg(lr=1e30, lr_min=1e29, grad_clip=0.0), tmp_path / "nan", task=task)


def test_checkpoint_refusals(tmp_path):
    task = _task()
    train(_cfg(max_steps=2), tmp_path / "run", task=task)
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        train(_cfg(), tmp_path / "run", task=task)
    with pytest.raises(ValueError, match="config hash"):
        train(_cfg(lr=2e-2), tmp_path / "run", task=task, resume=True)
    with pytest.raises(ValueError, match="does not exist"):
        train(_cfg(), tmp_path / "empty", task=task, resume=True)
    ckpt = tmp_path / "run" / "checkpoint.npz"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        train(_cfg(), tmp_path / "run", task=task, resume=True)


def test_checkpoint_roundtrip_and_shape_mismatch(tmp_path):
    tree = {"a": jax.numpy.arange(3.0), "b": jax.numpy.ones((2, 2), jax.numpy.int32)}
    path = save_checkpoint(tmp_path / "c.npz", tree, header={"config_hash": "abc", "step": 7})
    restored, header = load_checkpoint(path, tree, config_hash="abc")
    assert header["step"] == 7 and read_header(path)["config_hash"] == "abc"
    np.testing.assert_array_equal(np.asarray(restored["a"]), np.arange(3.0))
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ValueError, match="different architecture"):
        load_checkpoint(path, {"a": jax.numpy.arange(4.0), "b": tree["b"]})
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="corrupt"):
        read_header(tmp_path / "junk.npz")


def _padded_task(pad_value: float, n=40, nt=20, L=10, seed=3):
    """Variable-length toy task (lengths 2..L) whose padded steps hold `pad_value`."""
    rng = np.random.default_rng(seed)

    def split(num):
        lengths = rng.integers(2, L + 1, num)
        valid = np.arange(L)[None, :] < lengths[:, None]
        x = np.where(valid, rng.normal(size=(num, L)), pad_value)[:, :, None].astype(np.float32)
        y = (np.where(valid, x[:, :, 0], 0).sum(axis=1) > 0).astype(np.int32)
        return ArrayDataset(x, y, lengths=lengths)

    return Task(name="toy", train=split(n), test=split(nt), input_kind="real", num_classes=2, seq_len=L, input_dim=1)


def test_masked_training_and_evaluation_use_the_mask(tmp_path):
    from ssmlab.models import apply_batch
    from ssmlab.train.loop import build_model
    from ssmlab.train.metrics import classification_loss

    # padded steps hold 7.5, not 0: any unmasked use of them moves the loss far away
    task, cfg = _padded_task(7.5), _cfg(epochs=1, dropout=0.0)
    res = train(cfg, tmp_path / "run", task=task)  # 2 steps of 16; test set of 20: 12 zero-weight pad examples

    @eqx.filter_jit
    def losses(model, state, x, y, mask):
        """(masked loss, unmasked loss, masked predictions) of one forward pass in inference mode."""
        masked, _ = apply_batch(model, state, x, mask=mask, inference=True)
        plain, _ = apply_batch(model, state, x, inference=True)
        return classification_loss(masked, y), classification_loss(plain, y), jnp.argmax(masked, axis=1)

    # step 1 trains on the first batch of epoch 0 with the initial model: its logged loss is the masked loss
    first = next(with_validation(task).train.batches(cfg.batch_size, seed=cfg.seed, epoch=0))  # what train() uses
    model0, state0 = build_model(cfg, task, jax.random.key(cfg.seed))
    steps = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = next(r["loss"] for r in steps if r.get("event") == "step")
    masked, plain, _ = losses(model0, state0, first["x"], first["y"], first["mask"])
    assert logged == pytest.approx(float(masked), rel=1e-9) and abs(float(plain) - logged) > 1e-3
    # the evaluation (last batch padded) equals one masked forward pass over the 20 test examples
    record = res.summary  # one epoch: best.npz (tested) is the final model
    mask = np.arange(task.seq_len)[None, :] < task.test.lengths[:, None]
    test_loss, _, predicted = losses(res.model, res.state, task.test.x, task.test.y, mask)
    assert math.isfinite(record["test_loss"]) and record["test_loss"] == pytest.approx(float(test_loss), rel=1e-6)
    assert record["test_accuracy"] == pytest.approx(float(np.mean(np.asarray(predicted) == task.test.y)))
