"""Atomic checkpoints of a training run: arrays in one .npz plus a JSON header.

A checkpoint holds every array leaf of a pytree (model, norm state, optimiser state) in
flattening order, and a header with the format version, the config hash, the run position
(step, epoch, batch index within the epoch), the base PRNG key data, the best metric so far,
and the shape/dtype of every leaf. It is written to a temporary file in the same directory,
flushed and fsynced, then moved into place with `os.replace`, so a crash leaves either the old
or the new checkpoint, never a torn one. Loading checks the header against the running
configuration and the template pytree and raises ValueError naming what does not match.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .._atomic import atomic_savez

FORMAT = "ssmlab-checkpoint-v1"


def _leaves(tree: Any) -> list:
    return jax.tree_util.tree_leaves(tree)


def save_checkpoint(path: Path, tree: Any, *, header: dict) -> Path:
    """Write the array leaves of `tree` and `header` (JSON-able) to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    leaves = [np.asarray(jax.device_get(x)) for x in _leaves(tree)]
    meta = dict(header, format=FORMAT, leaves=[[list(x.shape), str(x.dtype)] for x in leaves])
    arrays = {f"leaf_{i}": x for i, x in enumerate(leaves)}
    arrays["header"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    return atomic_savez(path, **arrays)


def read_header(path: Path) -> dict:
    """The JSON header of a checkpoint (ValueError if the file is missing, corrupt or not a checkpoint)."""
    header, _ = _read(Path(path), load_arrays=False)
    return header


def _read(path: Path, *, load_arrays: bool) -> tuple[dict, list[np.ndarray]]:
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist; start without --resume or point --out at the run.")
    try:
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode())
            arrays = [data[f"leaf_{i}"] for i in range(len(header.get("leaves", [])))] if load_arrays else []
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError, UnicodeDecodeError) as err:
        raise ValueError(f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {err}); delete it "
                         "and resume from an earlier checkpoint or restart the run.") from err
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not an ssmlab checkpoint (format {header.get('format')!r}, "
                         f"expected {FORMAT!r}).")
    return header, arrays


def load_checkpoint(path: Path, template: Any, *, config_hash: str | None = None) -> tuple[Any, dict]:
    """Load a checkpoint into the structure of `template`; returns (tree, header).

    Raises ValueError if the config hash differs from `config_hash`, or if the number, shapes or
    dtypes of the stored arrays differ from those of `template`.
    """
    path = Path(path)
    header, arrays = _read(path, load_arrays=True)
    if config_hash is not None and header.get("config_hash") != config_hash:
        raise ValueError(f"checkpoint {path} was written by a run with config hash {header.get('config_hash')}, "
                         f"but this run's config hashes to {config_hash}: the model, data or optimiser settings "
                         "differ. Resume with the same config (only max_steps/logging may change) or use a new --out.")
    leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(leaves) != len(arrays):
        raise ValueError(f"checkpoint {path} holds {len(arrays)} arrays but the model/optimiser has {len(leaves)}; "
                         "it belongs to a different architecture.")
    restored = []
    for i, (ref, arr) in enumerate(zip(leaves, arrays, strict=True)):
        if not isinstance(ref, jax.Array | np.ndarray):  # a Python leaf (BatchNorm's axis_name, inference flag)
            if arr.shape or arr.item() != ref:  # is a constant of the architecture: must match, kept as it is
                raise ValueError(f"checkpoint {path}: leaf {i} is {arr!r}, expected {ref!r}; it belongs to a "
                                 "different architecture.")
            restored.append(ref)
            continue
        ref_shape, ref_dtype = tuple(jax.numpy.shape(ref)), jax.numpy.result_type(ref)
        if tuple(arr.shape) != ref_shape or np.dtype(arr.dtype) != np.dtype(ref_dtype):
            raise ValueError(f"checkpoint {path}: array {i} has shape {tuple(arr.shape)} dtype {arr.dtype}, "
                             f"expected {ref_shape} {ref_dtype}; it belongs to a different architecture.")
        restored.append(jax.numpy.asarray(arr))
    return jax.tree_util.tree_unflatten(treedef, restored), header
