"""TrainConfig with typed layer specs: JSON round trip, hash, overrides, and runs written before the specs."""

import dataclasses
import hashlib
import json

import jax
import numpy as np
import pytest

import ssmlab
from ssmlab._overrides import apply_overrides
from ssmlab.data.dataset import ArrayDataset, Task
from ssmlab.layers import LRUSpec, S4DSpec, STUSpec
from ssmlab.train.checkpoint import load_checkpoint, read_header, save_checkpoint
from ssmlab.train.config import (
    RUN_ONLY_FIELDS,
    TrainConfig,
    config_dict,
    config_from_dict,
    config_hash,
    legacy_config_hash,
    stored_config_hash,
)
from ssmlab.train.loop import build_model, init_optimizer_state, model_spec, train


def test_config_json_round_trip_keeps_the_spec_and_its_hash():
    cfg = TrainConfig(task="lm-chars", layer=STUSpec(num_filters=8, preset="official", k_u=2), depth=1,
                      task_options={"seq_len": 16, "max_files": 2})
    data = json.loads(json.dumps(config_dict(cfg)))
    assert data["layer"]["name"] == "stu" and data["layer"]["preset"] == "official"
    assert data["task_options"] == {"max_files": 2, "seq_len": 16}
    back = config_from_dict(data)
    assert back == cfg and type(back.layer) is STUSpec and config_hash(back) == config_hash(cfg)
    assert back.model == "stu"
    assert config_hash(dataclasses.replace(cfg, layer=STUSpec(num_filters=9, preset="official", k_u=2))) \
        != config_hash(cfg)
    # the hash covers the spec's name and its non-default fields: an explicit default changes nothing
    assert config_hash(TrainConfig(layer=LRUSpec(state_size=64))) == config_hash(TrainConfig())
    assert config_hash(TrainConfig(layer=S4DSpec())) != config_hash(TrainConfig())


def test_train_config_overrides_reach_the_layer_and_task_options():
    cfg = apply_overrides(TrainConfig(task="lm-chars", layer=STUSpec()),
                          ["layer.num_filters=12", "layer.preset=official", "task.seq_len=32", "lr=1e-3"])
    assert cfg.layer == STUSpec(num_filters=12, preset="official") and cfg.lr == 1e-3
    assert cfg.task_options == {"seq_len": 32}
    assert apply_overrides(cfg, ["layer=lru", "layer.state_size=8"]).layer == LRUSpec(state_size=8)
    with pytest.raises(ValueError, match="'layer.state_size'.*STUSpec has no field.*num_filters"):
        apply_overrides(cfg, ["layer.state_size=8"])
    with pytest.raises(ValueError, match="unknown config key 'task.nope'; valid options of task_options: seq_len"):
        apply_overrides(cfg, ["task.nope=1"])
    with pytest.raises(ValueError, match="unknown task_options \\['nope'\\] for task 'lm-chars'"):
        TrainConfig(task="lm-chars", task_options={"nope": 1})
    with pytest.raises(TypeError, match="layer"):  # our message, or the test suite's runtime type checker's
        TrainConfig(layer="lru")  # type: ignore[arg-type]


def _toy(n=40, L=8) -> Task:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, L, 1)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int32)
    return Task(name="toy", train=ArrayDataset(x[:24], y[:24]), test=ArrayDataset(x[24:32], y[24:32]),
                validation=ArrayDataset(x[32:], y[32:]), input_kind="real", num_classes=2, seq_len=L, input_dim=1)


def _legacy_record(cfg: TrainConfig) -> tuple[dict, str]:
    """cfg's config.json "config" as the version before typed specs wrote it, and that version's hash."""
    data = {k: v for k, v in config_dict(cfg).items() if k not in ("layer", "task_options")}
    data |= {"model": "lru", "state_size": cfg.layer.state_size, "layer_options": f"r_min={cfg.layer.r_min}",
             "task_options": ""}
    hashed = {k: v for k, v in data.items() if k not in RUN_ONLY_FIELDS}  # that version's formula, spelt out
    return data, hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]


_LEGACY = TrainConfig(task="toy", layer=LRUSpec(state_size=3, r_min=0.5), depth=1, d_model=4, batch_size=8,
                      epochs=2, lr=1e-2, progress=False, log_every=1)


def _to_legacy(run_dir, cfg: TrainConfig) -> str:
    """Rewrite a run directory as the version before typed specs left it (config.json and the npz headers)."""
    record = json.loads((run_dir / "config.json").read_text())
    record["config"], digest = _legacy_record(cfg)
    record["config_hash"] = digest
    (run_dir / "config.json").write_text(json.dumps(record))
    model, state = build_model(cfg, model_spec(_toy()), jax.random.key(cfg.seed))
    _, opt_state = init_optimizer_state(cfg, model, record["total_steps"])
    for name in ("checkpoint.npz", "best.npz"):
        tree, header = load_checkpoint(run_dir / name, (model, state, opt_state), config_hash=config_hash(cfg))
        save_checkpoint(run_dir / name, tree, header=header | {"config_hash": digest})
    return digest


def test_legacy_config_migrates_and_its_hash_is_that_versions(tmp_path):
    from ssmlab.train.load import _config

    data, digest = _legacy_record(_LEGACY)
    assert legacy_config_hash(data) == digest == stored_config_hash(data)
    assert _config({"config": data, "config_hash": digest}, tmp_path / "config.json") == _LEGACY  # load_run's check
    with pytest.raises(ValueError, match="edited or damaged"):
        _config({"config": data | {"lr": 0.5}, "config_hash": digest}, tmp_path / "config.json")
    assert stored_config_hash(config_dict(_LEGACY)) == config_hash(_LEGACY)
    assert config_from_dict(data) == _LEGACY  # model + state_size + layer_options -> LRUSpec(3, r_min=0.5)
    legacy_lm = {"task": "lm-chars", "model": "stu", "layer_options": "num_filters=8;preset=official",
                 "task_options": "seq_len=16;max_files=2"}
    cfg = config_from_dict(legacy_lm)
    assert cfg.layer == STUSpec(num_filters=8, preset="official") and cfg.task_options == {"seq_len": 16,
                                                                                          "max_files": 2}
    with pytest.raises(ValueError, match="cannot migrate the legacy layer settings.*num_filters"):
        config_from_dict({"model": "lru", "layer_options": "num_filters=3"})


@pytest.mark.slow  # builds and loads models (~7 s on 2 shared cores); the config checks below are the fast part
def test_a_legacy_run_directory_loads_for_load_run_and_generate(tmp_path):
    """config.json and best.npz as the version before typed specs wrote them (no training: the initial model);
    `ssmlab generate` loads runs with the same `load_run`."""
    from ssmlab.data import make_task

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(8):
        (corpus / f"f{i}.py").write_text("import os\nprint(os.name)\n" * (4 + i))
    opts = {"root": str(corpus), "seq_len": 8, "val_fraction": 0.25, "test_fraction": 0.25}
    cfg = TrainConfig(task="lm-chars", layer=LRUSpec(state_size=3, r_min=0.5), depth=1, d_model=4,
                      task_options=opts, progress=False)
    legacy, digest = _legacy_record(cfg)
    legacy["task_options"] = ";".join(f"{k}={v}" for k, v in opts.items())
    digest = legacy_config_hash(legacy)
    task = make_task("lm-chars", **opts)
    model, state = build_model(cfg, task, jax.random.key(cfg.seed))
    _, opt_state = init_optimizer_state(cfg, model, 1)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"config": legacy, "config_hash": digest,
                                                 "model_spec": model_spec(task)}))
    save_checkpoint(run / "best.npz", (model, state, opt_state), header={"config_hash": digest})
    got, _, got_cfg = ssmlab.load_run(run)  # what `ssmlab generate --run` loads
    assert got_cfg == cfg
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(model), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    record = json.loads((run / "config.json").read_text())
    record["config"]["lr"] = 0.5  # an edited legacy config no longer matches its recorded hash
    (run / "config.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="edited or damaged"):
        ssmlab.load_run(run)


@pytest.mark.slow  # trains 3 + 3 steps (~15 s on 2 shared cores); the load path is checked above
def test_a_run_written_before_the_specs_loads_and_resumes(tmp_path):
    run_dir = tmp_path / "old"
    first = train(dataclasses.replace(_LEGACY, max_steps=3), run_dir, task=_toy())  # 3 steps per epoch
    digest = _to_legacy(run_dir, _LEGACY)
    loaded = ssmlab.load_run(run_dir, which="last")
    assert loaded.config == _LEGACY
    for a, b in zip(jax.tree_util.tree_leaves(loaded.model), jax.tree_util.tree_leaves(first.model), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    done = train(_LEGACY, run_dir, task=_toy(), resume=True)  # resumes under the legacy hash
    assert done.finished and done.summary["config_hash"] == digest
    assert read_header(run_dir / "checkpoint.npz")["config_hash"] == digest
    assert "model" in json.loads((run_dir / "config.json").read_text())["config"]  # the file keeps its format
    assert ssmlab.load_run(run_dir).config == _LEGACY
    with pytest.raises(ValueError, match="config hash"):  # another config is still refused
        train(dataclasses.replace(_LEGACY, lr=2e-2), run_dir, task=_toy(), resume=True)
