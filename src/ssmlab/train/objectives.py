r"""Training objectives: one object per kind of task, holding its loss and its evaluation metrics.

The training loop calls an objective and never looks at what kind it is. A task names its objective
(`Task.objective`; "" = "classification" when the task has classes, else "per_step_regression") and
`objective_for(task)` builds it. Every objective gives

* `loss(outputs, y, mask) -> (loss, metrics)`: the training loss of one batch (what is differentiated)
  and a dict of scalar batch metrics for the step records;
* `sums(outputs, y, w, mask) -> [S]`: additive evaluation sums of a batch whose example weights are
  `w` [B] (0 for the padding examples of the last batch), accumulated in float64 over a dataset;
* `metrics(sums) -> dict`: the evaluation metrics from the accumulated sums (always a "loss");
* `score_metric` / `higher_is_better`: the metric that selects `best.npz` (validation if the task has a
  validation split, else test).

Objectives (B examples, L steps, C classes / O outputs, m the padding mask, w the example weights):

* `Classification` — one label per sequence, outputs [B, C]:
  loss = Σ_b w_b CE_b / Σ_b w_b with CE_b = -log softmax(z_b)[y_b]; accuracy. (The mask acts in the
  model's pooling, not here.)
* `NextToken` — causal language modelling, outputs [B, L, V] predicting the targets y [B, L] (the
  inputs shifted by one step): loss = Σ_{b,t} w_b m_bt CE_bt / Σ_{b,t} w_b m_bt, the mean over valid
  tokens; accuracy (arg-max = target), perplexity exp(loss) and bits per token loss / ln 2.
* `TokenClassification` — the same per-step cross-entropy as `NextToken` for tasks whose targets are
  answers at chosen steps rather than the next input (selective copying: the marker steps): the mask
  m selects those steps; scored by accuracy; metrics loss and accuracy.
* `PerStepRegression` — outputs [B, L, O] (or [B, O]) against y of the same shape:
  loss = MSE = Σ w_b m_bt (ŷ - y)² / (O Σ w_b m_bt), the mean over valid entries; NMSE = Σ (ŷ - y)² /
  Σ (y - ȳ)², with ȳ the mean of all valid target entries of the evaluated set (1 - R²; 1 is the
  error of predicting the mean).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .metrics import classification_loss, correct_count


def _step_weights(w: Array, mask: Array | None, shape: tuple[int, ...], dtype) -> Array:
    """Weights [B, L] = w_b m_bt (m = 1 without a mask) for per-step outputs of leading shape [B, L]."""
    weights = jnp.broadcast_to(w.astype(dtype)[:, None], shape)
    return weights if mask is None else weights * mask.astype(dtype)


@dataclasses.dataclass(frozen=True)
class Classification:
    """Softmax cross-entropy of one label per sequence; metrics loss and accuracy."""

    name: ClassVar[str] = "classification"
    score_metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True

    def loss(self, outputs: Array, y: Array, mask: Array | None = None) -> tuple[Array, dict[str, Array]]:
        """Mean cross-entropy over the batch and the fraction of correct arg-max predictions."""
        del mask  # a padded sequence is masked in the model's pooling
        return classification_loss(outputs, y), {"accuracy": correct_count(outputs, y) / y.shape[0]}

    def sums(self, outputs: Array, y: Array, w: Array, mask: Array | None = None) -> Array:
        """[Σ w CE, Σ w correct, Σ w]."""
        del mask
        return jnp.stack([classification_loss(outputs, y, w) * jnp.sum(w), correct_count(outputs, y, w), jnp.sum(w)])

    def metrics(self, sums: np.ndarray) -> dict[str, float]:
        """loss and accuracy."""
        n = max(float(sums[2]), 1.0)
        return {"loss": float(sums[0] / n), "accuracy": float(sums[1] / n)}


@dataclasses.dataclass(frozen=True)
class NextToken:
    """Causal language-model cross-entropy over the valid steps; loss, accuracy, perplexity, bits per token."""

    name: ClassVar[str] = "next_token"
    score_metric: ClassVar[str] = "loss"
    higher_is_better: ClassVar[bool] = False

    @staticmethod
    def _check(outputs: Array, y: Array) -> None:
        if outputs.ndim != 3 or y.shape != outputs.shape[:2]:
            raise ValueError(f"NextToken needs outputs [B, L, V] and integer targets [B, L]; got outputs "
                             f"{tuple(outputs.shape)} and targets {tuple(y.shape)}. Use a model with pooling='none'.")

    def _terms(self, outputs: Array, y: Array, weights: Array) -> tuple[Array, Array, Array]:
        ce = optax.softmax_cross_entropy_with_integer_labels(outputs, y)
        hits = (jnp.argmax(outputs, axis=-1) == y).astype(outputs.dtype)
        return jnp.sum(ce * weights), jnp.sum(hits * weights), jnp.sum(weights)

    def loss(self, outputs: Array, y: Array, mask: Array | None = None) -> tuple[Array, dict[str, Array]]:
        """Mean cross-entropy over the valid tokens of the batch, and their next-token accuracy."""
        self._check(outputs, y)
        weights = _step_weights(jnp.ones(y.shape[0]), mask, y.shape, outputs.dtype)
        ce, hits, n = self._terms(outputs, y, weights)
        n = jnp.maximum(n, 1.0)
        return ce / n, {"accuracy": hits / n}

    def sums(self, outputs: Array, y: Array, w: Array, mask: Array | None = None) -> Array:
        """[Σ w m CE, Σ w m correct, Σ w m]."""
        self._check(outputs, y)
        return jnp.stack(self._terms(outputs, y, _step_weights(w, mask, y.shape, outputs.dtype)))

    def metrics(self, sums: np.ndarray) -> dict[str, float]:
        """loss (nats per token), accuracy, perplexity exp(loss) and bits per token loss / ln 2."""
        n = max(float(sums[2]), 1.0)
        loss = float(sums[0] / n)
        return {"loss": loss, "accuracy": float(sums[1] / n), "perplexity": math.exp(min(loss, 700.0)),
                "bits_per_token": loss / math.log(2.0)}


@dataclasses.dataclass(frozen=True)
class TokenClassification(NextToken):
    """Cross-entropy of the steps the mask selects (the answer steps); loss and accuracy, scored by accuracy."""

    name: ClassVar[str] = "token_classification"
    score_metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    metrics = Classification.metrics  # the same sums [Σ CE, Σ correct, Σ weight]: loss and accuracy


@dataclasses.dataclass(frozen=True)
class PerStepRegression:
    """Mean squared error over the valid steps and output channels; loss (= MSE), mse, nmse."""

    name: ClassVar[str] = "per_step_regression"
    score_metric: ClassVar[str] = "loss"
    higher_is_better: ClassVar[bool] = False

    @staticmethod
    def _weights(outputs: Array, y: Array, w: Array, mask: Array | None) -> Array:
        """Weights broadcast to the outputs' shape: w_b (times m_bt for per-step outputs [B, L, O])."""
        if outputs.shape != y.shape or outputs.ndim not in (2, 3):
            raise ValueError(f"PerStepRegression needs outputs and targets of one shape [B, L, O] (or [B, O]); got "
                             f"outputs {tuple(outputs.shape)} and targets {tuple(y.shape)}. Set the task's "
                             "output_dim to the number of target channels.")
        if outputs.ndim == 2:
            return jnp.broadcast_to(w.astype(outputs.dtype)[:, None], outputs.shape)
        return jnp.broadcast_to(_step_weights(w, mask, outputs.shape[:2], outputs.dtype)[..., None], outputs.shape)

    def loss(self, outputs: Array, y: Array, mask: Array | None = None) -> tuple[Array, dict[str, Array]]:
        """Mean squared error over the valid entries of the batch."""
        weights = self._weights(outputs, y, jnp.ones(y.shape[0]), mask)
        return jnp.sum(weights * (outputs - y) ** 2) / jnp.maximum(jnp.sum(weights), 1.0), {}

    def sums(self, outputs: Array, y: Array, w: Array, mask: Array | None = None) -> Array:
        """[Σ w m (ŷ - y)², Σ w m, Σ w m y, Σ w m y²] over all entries."""
        weights = self._weights(outputs, y, w, mask)
        return jnp.stack([jnp.sum(weights * (outputs - y) ** 2), jnp.sum(weights), jnp.sum(weights * y),
                          jnp.sum(weights * y**2)])

    def metrics(self, sums: np.ndarray) -> dict[str, float]:
        """loss = mse (mean over valid entries) and nmse = SSE / Σ (y - ȳ)² (inf for a constant target)."""
        sse, n, sy, syy = (float(s) for s in sums)
        mse = sse / max(n, 1.0)
        spread = syy - sy * sy / max(n, 1.0)
        return {"loss": mse, "mse": mse, "nmse": sse / spread if spread > 0 else math.inf}


OBJECTIVES: dict[str, type] = {cls.name: cls for cls in (Classification, NextToken, TokenClassification,
                                                          PerStepRegression)}


def make_objective(name: str) -> Any:
    """The objective registered as `name` (see OBJECTIVES)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose one of {sorted(OBJECTIVES)} (Task.objective).")
    return OBJECTIVES[name]()


def objective_for(task) -> Any:
    """The objective a task names (`task.objective`), defaulting to classification for tasks with classes and
    per-step regression otherwise."""
    name = getattr(task, "objective", "") or ("classification" if task.num_classes > 0 else "per_step_regression")
    return make_objective(name)


def score(objective, metrics: dict[str, float]) -> float:
    """The selection score of evaluation metrics: higher is better (the metric, negated if lower is better)."""
    value = float(metrics[objective.score_metric])
    return value if objective.higher_is_better else -value
