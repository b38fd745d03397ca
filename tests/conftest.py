"""Shared test setup: float64 maths, no silent rank broadcasting, a default key, a private filter cache."""

import os

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(autouse=True, scope="session")
def _private_filter_cache(tmp_path_factory):
    """Keep spectral-filter caches written by tests out of the user's cache directory."""
    old = os.environ.get("SSMLAB_CACHE_DIR")
    os.environ["SSMLAB_CACHE_DIR"] = str(tmp_path_factory.mktemp("ssmlab-cache"))
    yield
    if old is None:
        os.environ.pop("SSMLAB_CACHE_DIR", None)
    else:
        os.environ["SSMLAB_CACHE_DIR"] = old


@pytest.fixture
def key():
    """A fixed PRNG key."""
    return jax.random.key(0)
