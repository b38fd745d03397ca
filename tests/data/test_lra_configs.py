"""LRA configurations: the paper presets carry the published setups, quick presets are CPU-sized and build."""

from __future__ import annotations

import dataclasses

import jax.random as jr
import pytest

from ssmlab.data import make_task
from ssmlab.train.lra_configs import CHANCE, GENERATED_TASKS, LRA_TASKS, MODELS, all_lra_configs, lra_config


def test_paper_presets_follow_the_sources():
    lru = lra_config("lru", "pathx", "paper")
    assert (lru.depth, lru.d_model, lru.state_size, lru.batch_size, lru.epochs) == (6, 128, 256, 32, 75)
    assert (lru.r_min, lru.r_max, lru.max_phase, lru.dt_min) == (0.999, 0.9999, 0.31, 1e-4)
    s4d = lra_config("s4d", "listops", "paper")
    assert (s4d.depth, s4d.d_model, s4d.state_size, s4d.prenorm, s4d.lr, s4d.ssm_lr) == (6, 256, 4, False, 0.01, 1e-3)
    ar = lra_config("ar_stu", "image", "paper")
    assert (ar.k_u, ar.k_y, ar.num_filters, ar.m_y_init, ar.warmup_fraction) == (3, 32, 24, 0.9, 0.1)
    assert ar.batch_size == lra_config("lru", "image", "paper").batch_size  # "same batch sizes and horizons"
    assert lra_config("ar_stu", "listops", "paper").k_y == 2 and ar.lr_grid and ar.wd_grid


def test_every_preset_is_consistent():
    configs = all_lra_configs()
    assert len(configs) == len(MODELS) * (len(LRA_TASKS) + len(GENERATED_TASKS)) * 2 and len(MODELS) == 7
    for (model, task, preset), cfg in configs.items():
        assert (cfg.model, cfg.task, cfg.preset) == (model, task, preset) and cfg.source
        assert 0 < cfg.warmup_fraction < 1 and cfg.lr > 0 and task in CHANCE
        if preset == "quick":
            assert cfg.depth <= 2 and cfg.d_model <= 32 and cfg.max_steps is not None
        else:
            assert cfg.max_steps is None and cfg.depth >= 6


def test_quick_generated_tasks_build():
    task = make_task("listops-gen", **{**lra_config("stu", "listops-gen", "quick").options(), "num_train": 20,
                                       "num_test": 5})
    assert task.seq_len == 100 and task.train.x.shape == (20, 100)


def test_bad_names():
    with pytest.raises(ValueError, match="model must be one of"):
        lra_config("mamba2", "listops")
    with pytest.raises(ValueError, match="task must be one of"):
        lra_config("lru", "cifar")
    with pytest.raises(ValueError, match="preset must be"):
        lra_config("lru", "listops", "huge")


def test_presets_map_to_train_configs_that_layers_accept():
    config = pytest.importorskip("ssmlab.train.config")


    from ssmlab.train.lra_configs import to_train_config

    for model in MODELS:
        lra = lra_config(model, "pathfinder", "paper")
        cfg = config.preset("pathfinder", "paper", model)
        assert cfg == to_train_config(lra)
        assert (cfg.depth, cfg.d_model, cfg.batch_size, cfg.epochs, cfg.warmup_frac) == (
            lra.depth, lra.d_model, lra.batch_size, lra.epochs, 0.1)
        small = {"num_filters": 3} if model in ("stu", "ar_stu") else {"state_size": 4}
        layer = dataclasses.replace(cfg.layer, **small).build(d_model=2, seq_len=16, key=jr.key(0))
        assert layer is not None
    quick = config.preset("listops-gen", "quick", "lru")
    assert quick.max_steps == 200 and quick.task_options["max_length"] == 100
    assert config.preset("pathfinder", "paper", "lru").ssm_lr_factor == pytest.approx(9e-4 / 4.5e-3)


def test_bidirectional_presets_reach_the_layer():


    from ssmlab.train.lra_configs import to_train_config

    s4d = lra_config("s4d", "pathfinder", "paper")
    assert s4d.bidirectional
    spec = to_train_config(s4d).layer
    assert spec.bidirectional is True
    layer = dataclasses.replace(spec, state_size=4).build(d_model=2, seq_len=16, key=jr.key(0))
    assert layer.c2_re is not None  # the reversed-direction readout exists
    assert to_train_config(lra_config("lru", "pathfinder", "paper")).layer.bidirectional is False
    s5 = to_train_config(lra_config("s5", "listops", "paper")).layer
    assert s5.bidirectional is True and dataclasses.replace(s5, state_size=4).build(
        d_model=2, seq_len=16, key=jr.key(0)).c2_re is not None
    for model in ("s4", "mamba"):  # causal layers: the presets leave bidirectional out (their specs have none)
        assert not hasattr(to_train_config(lra_config(model, "listops", "paper")).layer, "bidirectional")
    with pytest.raises(ValueError, match="bidirectional=True needs model 'lru', 's4d' or 's5'"):
        to_train_config(dataclasses.replace(lra_config("stu", "pathfinder", "paper"), bidirectional=True))
