"""Losses, accuracy and the JSONL metrics log of a training run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int

from .._atomic import atomic_write_text


def classification_loss(logits: Float[Array, "B C"], labels: Int[Array, " B"],
                        weights: Float[Array, " B"] | None = None) -> Float[Array, ""]:
    """Mean softmax cross-entropy -Σ_b w_b log softmax(logits_b)[y_b] / Σ_b w_b (w = 1 by default)."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    if weights is None:
        return jnp.mean(losses)
    return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def correct_count(logits: Float[Array, "B C"], labels: Int[Array, " B"],
                  weights: Float[Array, " B"] | None = None) -> Float[Array, ""]:
    """Number of (weighted) examples whose arg-max logit is the label."""
    hits = (jnp.argmax(logits, axis=-1) == labels).astype(logits.dtype)
    return jnp.sum(hits if weights is None else hits * weights)


class MetricsLog:
    """Append-only JSON-lines log (one JSON object per line); only process 0 writes."""

    def __init__(self, path: Path):
        """Log to `path` (created with its parent directory if needed)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        """Append one record; non-finite floats are written as strings so the file stays valid JSON."""
        if jax.process_index() != 0:
            return
        clean = {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with self.path.open("a") as fh:
            fh.write(json.dumps(clean, sort_keys=True) + "\n")

    def rewind(self, step: int, *, keep_epoch_end: bool = True) -> int:
        """Drop records logged after `step` (and a torn last line), atomically; return how many were dropped.

        A run killed after its last checkpoint logged steps it will repeat on resume; rewinding to the
        checkpoint's step keeps each step once in the log. With `keep_epoch_end=False` (the checkpoint
        of an epoch's last step was written before its evaluation) the epoch record at `step` is
        dropped too, since the resumed run writes it again."""
        if jax.process_index() != 0 or not self.path.exists():
            return 0
        text = self.path.read_text()
        kept, dropped = [], 0
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line torn by the kill
                dropped += 1
                continue
            at = record.get("step") if isinstance(record, dict) else None
            if isinstance(at, int) and (at > step or at == step and not keep_epoch_end
                                        and record.get("event") == "epoch"):
                dropped += 1
                continue
            kept.append(line)
        if dropped or text and not text.endswith("\n"):  # a kill can also cut just the final newline
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        return dropped

    def read(self) -> list[dict]:
        """All records written so far."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
