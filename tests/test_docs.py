"""The README's Python examples and the docstring `>>>` examples run as written."""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import jax
import pytest

import ssmlab

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def _modules():
    for info in pkgutil.walk_packages(ssmlab.__path__, "ssmlab."):
        yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    # Docstring examples show float32 results, as a user without x64 sees them.
    with jax.enable_x64(False):
        failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
