"""The Python examples in docs/layers/s4.md, s5.md and mamba.md run as written."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs" / "layers"


@pytest.mark.slow
@pytest.mark.parametrize("page", ["s4.md", "s5.md", "mamba.md"])
def test_layer_page_examples_run(page):
    text = (DOCS / page).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, f"{page} has no python example"
    for block in blocks:
        exec(compile(block, str(DOCS / page), "exec"), {})
