"""Shared test setup: float64 maths, no silent rank broadcasting, a default key, a private filter cache."""

import os
from pathlib import Path

# Compile-time budget: the suite is dominated by XLA compiles of small programs, and LLVM's expensive
# passes buy nothing at test sizes (about a third of the CPU time; same maths, rounding-level differences at
# most). Set SSMLAB_TEST_FULL_XLA_OPT=1 to test with XLA's default optimisation level. Must run before the
# first JAX computation, so before anything imports ssmlab.
if os.environ.get("SSMLAB_TEST_FULL_XLA_OPT") != "1":
    _fast = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_fast}".strip()

import jax  # noqa: E402
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


# Test folders whose tests run under strict dtype promotion (an implicit promotion between array dtypes raises);
# a test or module that mixes dtypes on purpose says so with @pytest.mark.dtype_promotion("standard") and is
# listed, with the reason, in docs/reliability.md ("Dtype promotion in the tests").
STRICT_PROMOTION_DIRS = ("tests/core/", "tests/theory/")


def _promotion(node) -> str:
    rel = node.path.relative_to(Path(__file__).parent.parent).as_posix()
    if not rel.startswith(STRICT_PROMOTION_DIRS):
        return jax.config.jax_numpy_dtype_promotion
    mark = node.get_closest_marker("dtype_promotion")
    return mark.args[0] if mark else "strict"


def pytest_configure(config):
    config.addinivalue_line("markers", "dtype_promotion(mode): run under jax.numpy_dtype_promotion(mode) "
                                       "instead of strict (tests/core, tests/theory; reason in docs/reliability.md)")


@pytest.fixture(autouse=True, scope="module")
def _module_dtype_promotion(request):
    """Module scope too, so module-scoped fixtures compute under the same promotion mode as their tests."""
    with jax.numpy_dtype_promotion(_promotion(request.node)):
        yield


@pytest.fixture(autouse=True)
def _dtype_promotion(request):
    with jax.numpy_dtype_promotion(_promotion(request.node)):
        yield


@pytest.fixture
def key():
    """A fixed PRNG key."""
    return jax.random.key(0)
