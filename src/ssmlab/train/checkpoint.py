"""Atomic checkpoints of a training run: arrays in one .npz plus a JSON header.

A checkpoint holds every array leaf of a pytree (model, norm state, optimiser state) in
flattening order, and a header with the format version, the config hash, the run position
(step, epoch, batch index within the epoch), the base PRNG key data, the best metric so far,
and the shape/dtype of every leaf. It is written to a temporary file in the same directory,
flushed and fsynced, then moved into place with `os.replace`, so a crash leaves either the old
or the new checkpoint, never a torn one. Loading checks the header against the running
configuration and the template pytree, refuses non-finite values in any float leaf, and raises
ValueError naming what does not match. `check_run_header` validates the training loop's header
fields (types, ranges, consistency) so a resume can refuse a forged or damaged checkpoint before
it touches any other file of the run.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .._atomic import atomic_savez

FORMAT = "ssmlab-checkpoint-v1"


class _NotCheckpoint(ValueError):
    """A readable .npz whose header is not an ssmlab checkpoint's."""


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
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                found = header.get("format") if isinstance(header, dict) else type(header).__name__
                raise _NotCheckpoint(f"{path} is not an ssmlab checkpoint (format {found!r}, expected {FORMAT!r}).")
            leaves = header.get("leaves")
            if load_arrays and not isinstance(leaves, list):
                raise ValueError(f"header field 'leaves' must be a list, got {type(leaves).__name__}")
            arrays = [data[f"leaf_{i}"] for i in range(len(leaves))] if load_arrays else []
    except _NotCheckpoint:
        raise
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError, UnicodeDecodeError) as err:
        raise ValueError(f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {err}); delete it "
                         "and resume from an earlier checkpoint or restart the run.") from err
    return header, arrays


def load_checkpoint(path: Path, template: Any, *, config_hash: str | None = None) -> tuple[Any, dict]:
    """Load a checkpoint into the structure of `template`; returns (tree, header).

    Raises ValueError if the config hash differs from `config_hash`, if the number, shapes or
    dtypes of the stored arrays differ from those of `template`, or if a float leaf holds NaN/inf.
    """
    path = Path(path)
    header, arrays = _read(path, load_arrays=True)
    if config_hash is not None and header.get("config_hash") != config_hash:
        raise ValueError(f"checkpoint {path} was written by a run with config hash {header.get('config_hash')}, "
                         f"but this run's config hashes to {config_hash}: the model, data or optimiser settings "
                         "differ. Resume with the same config (only max_steps/logging may change) or use a new --out.")
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = [leaf for _, leaf in paths]
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
        if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ValueError(f"checkpoint {path}: array {i} ({jax.tree_util.keystr(paths[i][0])}) holds {bad} "
                             "non-finite values (NaN/inf); it is damaged or the run had diverged. Resume from an "
                             "earlier checkpoint or restart the run.")
        restored.append(jax.numpy.asarray(arr))
    return jax.tree_util.tree_unflatten(treedef, restored), header


def _field(header: dict, path: Path, name: str, kinds: tuple[type, ...]) -> Any:
    """header[name], refusing a missing field or one of the wrong JSON type (bool is not a number)."""
    if name not in header:
        raise ValueError(f"checkpoint {path} lacks header field {name!r} (written by an older ssmlab or damaged); "
                         "restart the run in a new --out.")
    value = header[name]
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise ValueError(f"checkpoint {path}: header field {name!r} must be {'/'.join(k.__name__ for k in kinds)}, "
                         f"got {value!r}; the checkpoint is damaged or forged. Restart the run or resume an intact "
                         "copy.")
    return value


def _refuse(path: Path, what: str) -> ValueError:
    return ValueError(f"checkpoint {path}: {what}; the checkpoint is damaged or forged. Restart the run or resume "
                      "an intact copy.")


def _check_epoch_record(path: Path, i: int, record: Any, steps_per_epoch: int, score_metric: str = "accuracy",
                        higher_is_better: bool = True) -> float | None:
    """Validate history[i]; return its selection score (val or test `score_metric`, negated if lower is better),
    None if not evaluated."""
    if not isinstance(record, dict) or record.get("event") != "epoch":
        raise _refuse(path, f"history[{i}] is not an epoch record ({record!r:.80})")
    for key, want in (("epoch", i + 1), ("step", (i + 1) * steps_per_epoch)):
        if type(record.get(key)) is not int or record[key] != want:
            raise _refuse(path, f"history[{i}][{key!r}] is {record.get(key)!r}, expected {want}")
    for key, value in record.items():
        if key.endswith(("loss", "accuracy", "_s")):
            ok = type(value) in (int, float) and math.isfinite(value) and value >= 0
            if not ok or key.endswith("accuracy") and value > 1:
                raise _refuse(path, f"history[{i}][{key!r}] = {value!r} is out of range")
    score = record.get(f"val_{score_metric}", record.get(f"test_{score_metric}"))
    if score is not None and (type(score) not in (int, float) or not math.isfinite(score)):
        raise _refuse(path, f"history[{i}] score {score_metric} = {score!r} is not a finite number")
    return None if score is None else (float(score) if higher_is_better else -float(score))


def check_run_header(header: dict, path: Path, *, steps_per_epoch: int, total_steps: int, seed: int,
                     key_data: list, score_metric: str = "accuracy", higher_is_better: bool = True) -> None:
    """Refuse a training-loop header whose fields have the wrong type, range or mutual consistency.

    Checked: step in [0, total_steps]; epoch/batch_index equal to divmod(step, steps_per_epoch);
    seed and PRNG key data of this config; history one epoch record per ended epoch (the last one
    may be missing at an epoch boundary: its evaluation is pending); best equal to the best score
    in the history (-inf before any evaluation), the score being the objective's `score_metric` (negated when
    lower is better); train_loss_sum and wall_s finite; the optional end-of-run test result at a step
    already reached, with a finite loss and an accuracy in [0, 1].
    """
    path = Path(path)
    step = _field(header, path, "step", (int,))
    if not 0 <= step <= total_steps:
        raise _refuse(path, f"step {step} is outside [0, {total_steps}] (this run has {total_steps} steps)")
    for name, want in (("epoch", step // steps_per_epoch), ("batch_index", step % steps_per_epoch), ("seed", seed),
                       ("rng_key_data", key_data)):
        value = _field(header, path, name, (list,) if name == "rng_key_data" else (int,))
        if value != want:
            raise _refuse(path, f"header field {name!r} is {value!r}, but step {step} of this config needs {want!r}")
    history = _field(header, path, "history", (list,))
    ended = step // steps_per_epoch
    if len(history) != ended and not (step % steps_per_epoch == 0 and len(history) == ended - 1 >= 0):
        raise _refuse(path, f"history holds {len(history)} epoch records at step {step} (expected {ended})")
    scores = [s for i, r in enumerate(history)
              if (s := _check_epoch_record(path, i, r, steps_per_epoch, score_metric, higher_is_better)) is not None]
    best = _field(header, path, "best", (int, float))
    if best != max(scores, default=-math.inf):
        raise _refuse(path, f"best {best!r} is not the best {score_metric} score of its history "
                            f"({max(scores, default=None)})")
    for name in ("train_loss_sum", "wall_s"):
        value = _field(header, path, name, (int, float))
        if not math.isfinite(value) or name == "wall_s" and value < 0:
            raise _refuse(path, f"header field {name!r} = {value!r} is out of range")
    if "test" in header:
        _check_test(header["test"], path, step)


def _check_test(test: Any, path: Path, step: int) -> None:
    """The end-of-run test result: step <= the header's step, test_<metric> values (loss finite, accuracy in [0, 1])."""
    if not isinstance(test, dict) or "step" not in test or "test_loss" not in test or \
            not all(k == "step" or k.startswith("test_") for k in test):
        raise _refuse(path, f"header field 'test' must hold step, test_loss and test_<metric> values, got {test!r:.80}")
    if type(test["step"]) is not int or not 0 < test["step"] <= step:
        raise _refuse(path, f"test['step'] = {test['step']!r} is not a step of this run (at step {step})")
    for key, value in test.items():
        if key == "step":
            continue
        finite_needed = key in ("test_loss", "test_accuracy")  # others (e.g. nmse of a constant target) may be inf
        if type(value) not in (int, float) or math.isnan(value) or value < 0 or \
                finite_needed and not math.isfinite(value) or key == "test_accuracy" and value > 1:
            raise _refuse(path, f"test[{key!r}] = {value!r} is out of range")
