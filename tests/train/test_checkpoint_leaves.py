"""Checkpoints of models with Python leaves (eqx.nn.BatchNorm's axis_name and inference flag) load back as they were."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmlab.train.checkpoint import load_checkpoint, save_checkpoint


def test_python_leaves_round_trip_unchanged(tmp_path):
    norm, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(3, axis_name=("batch", "time"), mode="ema")
    tree = (norm, state, {"w": jnp.arange(3.0)})
    save_checkpoint(tmp_path / "c.npz", tree, header={"step": 1})
    template = jax.tree_util.tree_map(lambda x: jnp.zeros_like(x) if isinstance(x, jax.Array) else x, tree)
    restored, header = load_checkpoint(tmp_path / "c.npz", template)
    assert header["step"] == 1
    for ref, got in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(restored), strict=True):
        assert type(got) is type(ref) or isinstance(ref, jax.Array) and isinstance(got, jax.Array)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
    other = eqx.nn.make_with_state(eqx.nn.BatchNorm)(3, axis_name="other", mode="ema")
    with pytest.raises(ValueError, match="different architecture"):
        load_checkpoint(tmp_path / "c.npz", (*other, {"w": jnp.zeros(3)}))
