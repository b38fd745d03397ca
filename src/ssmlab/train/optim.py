r"""Optimiser: AdamW with warm-up + cosine schedule, gradient clipping and parameter groups.

Every array leaf of a model gets one role, declared on the field that holds it,
`eqx.field(metadata={"role": "frozen" | "recurrent"})` (`ssmlab._roles`), and read here from the
dataclass fields of each module on the leaf's path, whatever the module (no layer is imported):

* ``frozen``: never trained and never seen by the optimiser. The STU's spectral filters and their
  FFT are frozen by construction: static `FrozenArray` fields (`ssmlab.layers.frozen`), not pytree
  leaves, so the plain Equinox recipe `eqx.partition(model, eqx.is_inexact_array)` + any optax
  optimiser (weight decay included) cannot move them either; their fields say "frozen" too, which
  is how `count_parameters` finds them. A frozen array that is an ordinary leaf is left out by
  `trainable`.
* ``recurrent``: SSM / AR parameters (LRU ν, θ, γ, B; S4D log Δt, A, B; Mamba A_log, D, dt bias;
  STU's AR matrix m_y):
  Adam without weight decay at `ssm_lr_factor` × the learning rate [LRU, App. D (its code's `train.py`); S4, its code's
  `kernels/kernel.py`; STU, App. C.2 and its official code: m_y at 0.1 × LR, wd 0].
* ``default``: everything else, AdamW with the config's weight decay.

A role holds for everything below its field (a sub-module under a recurrent field is recurrent
unless its own fields say otherwise; nothing below a frozen field is trained). A role string other
than these three is refused with a ValueError naming the field. For modules whose class cannot be
edited, `declare_fields(cls, frozen=..., recurrent=...)` declares the same roles by field name; it
takes precedence over the metadata. `trainable(model)` is the one filter shared by the loop and the
tests; for ssmlab's own layers it equals `eqx.is_inexact_array`.

Schedule: linear warm-up from `lr_min` to `lr` over `warmup_frac` of the steps, then cosine decay
to `lr_min` at the last step [LRU, App. D; STU, App. C.2].
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import numpy as np
import optax

from .._roles import ROLES, declared_roles
from .config import TrainConfig

_DECLARED: dict[type, dict[str, str]] = {}


def declare_fields(cls: type, *, frozen: tuple[str, ...] = (), recurrent: tuple[str, ...] = ()) -> None:
    """Declare roles by field name for a module class `cls` one cannot edit (else use the field metadata).

    `eqx.field(metadata={"role": "recurrent"})` on the field itself is the usual way; this is for
    classes defined elsewhere. Names declared here take precedence over the fields' metadata.
    """
    roles = {name: "frozen" for name in frozen}
    overlap = set(roles) & set(recurrent)
    if overlap:
        raise ValueError(f"fields {sorted(overlap)} of {cls.__name__} cannot be both frozen and recurrent.")
    roles.update({name: "recurrent" for name in recurrent})
    _DECLARED[cls] = roles


def field_roles(cls: type) -> dict[str, str]:
    """Role of each field of module class `cls` that has one: its metadata, then `declare_fields` (others: inherit)."""
    return {**declared_roles(cls), **_DECLARED.get(cls, {})}


def _leaf_role(model: Any, path) -> str:
    node, role = model, "default"
    for entry in path:
        if isinstance(entry, jax.tree_util.GetAttrKey):
            role = field_roles(type(node)).get(entry.name, role) if role != "frozen" else role
            node = getattr(node, entry.name)
        elif isinstance(entry, jax.tree_util.SequenceKey):
            node = node[entry.idx]
        elif isinstance(entry, jax.tree_util.DictKey):
            node = node[entry.key]
        else:  # flattened custom nodes: no further field names below
            break
    return role


def param_roles(model: Any) -> Any:
    """Pytree like `model` with 'frozen' / 'recurrent' / 'default' at inexact-array leaves, None elsewhere."""
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: _leaf_role(model, path) if eqx.is_inexact_array(leaf) else None, model)


def trainable(model: Any) -> Any:
    """Boolean filter for `eqx.partition`: True at inexact arrays that are not frozen."""
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: eqx.is_inexact_array(leaf) and _leaf_role(model, path) != "frozen", model)


def count_parameters(model: Any) -> dict[str, int]:
    """Number of scalars per role ('frozen' includes the static `FrozenArray` buffers)."""
    counts = dict.fromkeys(ROLES, 0)
    for path, leaf in jax.tree_util.tree_flatten_with_path(model)[0]:
        if eqx.is_inexact_array(leaf):
            counts[_leaf_role(model, path)] += int(leaf.size)
    counts["frozen"] += _static_frozen_size(model)
    return counts


def _static_frozen_size(node: Any) -> int:
    """Scalars held in static fields declared "frozen" (e.g. the STU's `FrozenArray` filters) anywhere in `node`."""
    if isinstance(node, list | tuple):
        return sum(_static_frozen_size(x) for x in node)
    if isinstance(node, dict):
        return sum(_static_frozen_size(x) for x in node.values())
    if not isinstance(node, eqx.Module):
        return 0
    total, roles = 0, field_roles(type(node))
    for f in dataclasses.fields(node):
        value = getattr(node, f.name, None)
        if f.metadata.get("static", False):
            total += int(np.size(value)) if roles.get(f.name) == "frozen" and value is not None else 0
        else:
            total += _static_frozen_size(value)
    return total


def lr_schedule(cfg: TrainConfig, total_steps: int) -> optax.Schedule:
    """Linear warm-up lr_min -> lr over warmup_frac·total_steps, then cosine to lr_min [LRU, App. D]."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1 (check epochs and batch_size vs the dataset); got {total_steps}.")
    warmup = int(cfg.warmup_frac * total_steps)
    return optax.warmup_cosine_decay_schedule(init_value=cfg.lr_min, peak_value=cfg.lr, warmup_steps=warmup,
                                              decay_steps=max(total_steps, warmup + 1), end_value=cfg.lr_min)


def make_optimizer(cfg: TrainConfig, model: Any, total_steps: int) -> optax.GradientTransformation:
    """clip_by_global_norm → per-role AdamW/Adam, to be applied to `eqx.filter(model, trainable(model))`."""
    schedule = lr_schedule(cfg, total_steps)
    groups = {
        "default": optax.adamw(schedule, weight_decay=cfg.weight_decay),
        "recurrent": optax.adam(lambda step: cfg.ssm_lr_factor * schedule(step)),
    }

    params = eqx.filter(model, trainable(model))
    # labels are fixed once from the model's field names; optax calls this with the gradients' tree,
    # which has the same structure as `params`
    fixed = jax.tree_util.tree_map_with_path(lambda path, leaf: _leaf_role(model, path), params)

    def labels(_tree):
        return fixed

    inner = optax.multi_transform(groups, labels)
    chain = [inner] if cfg.grad_clip <= 0 else [optax.clip_by_global_norm(cfg.grad_clip), inner]
    return optax.chain(*chain)
