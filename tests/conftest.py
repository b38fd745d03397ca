"""Shared test setup: float64 maths, no silent rank broadcasting, a default key."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
    """A fixed PRNG key."""
    return jax.random.key(0)
