"""Synthetic tasks of the Mamba paper where content-aware (selective) state updates matter [Mamba, §4.1, App. E.1].

Token ids (shared by both tasks): 0 = noise (blank), 1 = marker, 2 .. vocab_size + 1 = content tokens, so
the embedding needs `token_count(vocab_size)` = vocab_size + 2 rows; "vocabulary 16" in the paper is the
number of content tokens.

* Selective copying: `num_tokens` content tokens are placed at random distinct positions of a region of
  `seq_len` steps, in increasing position order, noise everywhere else; then come `num_tokens` marker steps.
  Targets are the content tokens in order of appearance; the model answers at the marker steps
  (input length seq_len + num_tokens). Unlike the plain copying task, the spacing is random, so a
  time-invariant filter cannot read the tokens out at fixed lags.
* Induction heads (associative recall): `seq_len` uniform content tokens; at a random position p
  (not in the last two steps) the marker is followed by the target token, and the sequence ends with the
  marker again; the model must output the token that followed the first marker (input length seq_len + 1).
"""

from __future__ import annotations

import numpy as np

NOISE, MARKER, FIRST_CONTENT = 0, 1, 2


def token_count(vocab_size: int) -> int:
    """Embedding rows needed: the content tokens plus noise and marker."""
    return vocab_size + FIRST_CONTENT


def _check(batch: int, seq_len: int, vocab_size: int) -> None:
    for name, value in (("batch", batch), ("seq_len", seq_len), ("vocab_size", vocab_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def selective_copying(rng: np.random.Generator, *, batch: int, seq_len: int, num_tokens: int,
                      vocab_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [batch, seq_len + num_tokens] int32, targets [batch, num_tokens] int32) [Mamba, Fig. 2, App. E.1].

    Content tokens at `num_tokens` distinct random positions of the first `seq_len` steps (noise elsewhere),
    then `num_tokens` markers; targets[b] are the content tokens of inputs[b] in order of position.
    """
    _check(batch, seq_len, vocab_size)
    if not isinstance(num_tokens, (int, np.integer)) or not 1 <= num_tokens <= seq_len:
        raise ValueError(f"num_tokens must be an integer in [1, seq_len={seq_len}] (distinct positions); "
                         f"got {num_tokens!r}.")
    # distinct positions per row: the first num_tokens of a random permutation, sorted
    positions = np.sort(np.argsort(rng.random((batch, seq_len)), axis=1)[:, :num_tokens], axis=1)
    targets = rng.integers(FIRST_CONTENT, FIRST_CONTENT + vocab_size, (batch, num_tokens))
    inputs = np.full((batch, seq_len + num_tokens), NOISE, np.int32)
    np.put_along_axis(inputs, positions, targets, axis=1)
    inputs[:, seq_len:] = MARKER
    return inputs, targets.astype(np.int32)


def induction_heads(rng: np.random.Generator, *, batch: int, seq_len: int,
                    vocab_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [batch, seq_len + 1] int32, targets [batch] int32): recall the token after the marker [Mamba, §4.1.2].

    Uniform content tokens, one marker at a random p in [0, seq_len - 2], the target at p + 1, and a final
    marker at step seq_len; the marker never appears elsewhere.
    """
    _check(batch, seq_len, vocab_size)
    if seq_len < 2:
        raise ValueError(f"induction heads need seq_len >= 2 (marker and target); got {seq_len}.")
    inputs = rng.integers(FIRST_CONTENT, FIRST_CONTENT + vocab_size, (batch, seq_len + 1)).astype(np.int32)
    p = rng.integers(0, seq_len - 1, batch)
    rows = np.arange(batch)
    inputs[rows, p] = MARKER
    inputs[:, seq_len] = MARKER
    return inputs, inputs[rows, p + 1].copy()
