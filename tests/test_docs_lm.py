"""The Python example in docs/language_models.md runs as written."""

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "language_models.md"


@pytest.mark.slow  # builds a model and compiles generation (~5 s idle, more on shared cores)
def test_language_models_page_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert blocks, "docs/language_models.md has no python example"
    for block in blocks:
        scope = {}
        exec(compile(block, str(PAGE), "exec"), scope)
    assert scope["tokens"].shape == (32,) and scope["more"].shape == (16,) and isinstance(scope["text"], str)
