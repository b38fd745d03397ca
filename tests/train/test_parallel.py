"""Data parallelism: 4 forced CPU devices give the same loss trajectory as 1 device (in subprocesses)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ssmlab.train import parallel

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import jax
    import numpy as np
    from ssmlab.data.dataset import ArrayDataset, Task
    from ssmlab.layers import layer_spec
    from ssmlab.train.config import TrainConfig
    from ssmlab.train.loop import train

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16, 1)).astype(np.float32)
    y = (x[:, :8, 0].sum(axis=1) > 0).astype(np.int32)
    lengths = rng.integers(8, 17, 64) if sys.argv[4] == "masked" else None
    task = Task(name="toy", train=ArrayDataset(x, y, lengths=lengths),
                test=ArrayDataset(x[:20], y[:20], lengths=None if lengths is None else lengths[:20]),
                validation=ArrayDataset(x[20:40], y[20:40], lengths=None if lengths is None else lengths[20:40]),
                input_kind="real", num_classes=2, seq_len=16, input_dim=1)
    cfg = TrainConfig(task="toy", layer=layer_spec(sys.argv[2], state_size=4), depth=2, d_model=8, batch_size=16,
                      epochs=2, lr=1e-2, progress=False, log_every=1, norm=sys.argv[3])
    res = train(cfg, Path(sys.argv[1]), task=task)
    losses = [r["loss"] for r in map(json.loads, Path(sys.argv[1], "metrics.jsonl").read_text().splitlines())
              if r.get("event") == "step"]
    print(json.dumps({"devices": jax.device_count(), "losses": losses, "acc": res.summary["test_accuracy"]}))
""")


def _run(tmp_path, devices: int, model: str, norm: str, data: str) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    out = tmp_path / f"run{devices}{model}{norm}{data}"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out), model, norm, data], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize(("model", "norm", "data"), [("lru", "batch", "full"), ("lru", "layer", "masked")])
def test_four_devices_match_one(tmp_path, model, norm, data):
    one = _run(tmp_path, 1, model, norm, data)
    four = _run(tmp_path, 4, model, norm, data)
    assert one["devices"] == 1 and four["devices"] == 4
    assert len(one["losses"]) == len(four["losses"]) == 8
    np.testing.assert_allclose(four["losses"], one["losses"], rtol=2e-5, atol=2e-6)
    assert abs(four["acc"] - one["acc"]) <= 1 / 20 + 1e-9  # at most one borderline test example may flip


def test_global_batch_carries_the_mask():
    mesh = parallel.data_mesh()
    n = mesh.devices.size
    mask = np.arange(5)[None, :] < np.arange(1, 2 * n + 1)[:, None] % 5 + 1
    g = parallel.global_batch({"x": np.zeros((2 * n, 5, 1), np.float32), "mask": mask}, mesh)
    assert g["mask"].dtype == np.bool_ and g["mask"].sharding == g["x"].sharding
    np.testing.assert_array_equal(np.asarray(g["mask"]), mask)


def test_batch_size_must_divide_devices():
    mesh = parallel.data_mesh()
    parallel.check_batch_size(mesh.devices.size * 3, mesh)
    if mesh.devices.size > 1:
        with pytest.raises(ValueError, match="divisible"):
            parallel.check_batch_size(mesh.devices.size + 1, mesh)


def test_distributed_only_when_asked(monkeypatch):
    monkeypatch.delenv("SSMLAB_DISTRIBUTED", raising=False)
    assert parallel.distributed_requested() is False
    assert parallel.initialize_distributed(False) is False
    monkeypatch.setenv("SSMLAB_DISTRIBUTED", "1")
    assert parallel.distributed_requested() is True
