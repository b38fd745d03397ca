"""Every page in docs/layers/: its Python examples run as written, and the `ssmlab.` names it cites exist."""

import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs" / "layers"
PAGES = sorted(p.name for p in DOCS.glob("*.md"))

_FENCED = re.compile(r"```.*?```", flags=re.S)
_INLINE = re.compile(r"`([^`\n]+)`")
_DOTTED = re.compile(r"\bssmlab(?:\.[A-Za-z_]\w*)+")


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _cited_names(text: str) -> set[str]:
    """Dotted `ssmlab.` names inside inline code spans (fenced blocks are run, not parsed)."""
    return {name for span in _INLINE.findall(_FENCED.sub("", text)) for name in _DOTTED.findall(span)}


def _resolve(name: str):
    """Import the longest module prefix of `name`, then getattr the rest (classes, functions, attributes)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)  # AttributeError names what is missing
        return obj
    raise ModuleNotFoundError(name)


def test_every_layer_page_has_an_example_and_cites_real_names():
    # The checker itself: it sees inline names only, and a wrong name fails to resolve.
    text = "`ssmlab.layers.stu.STU(d_model=2)` and ```python\nssmlab.nope\n```"
    assert _cited_names(text) == {"ssmlab.layers.stu.STU"}
    with pytest.raises(AttributeError):
        _resolve("ssmlab.layers.stu.NoSuchLayer")
    assert PAGES, f"no pages in {DOCS}"
    missing = []
    for page in PAGES:
        text = (DOCS / page).read_text()
        assert _python_blocks(text), f"{page} has no ```python example"
        for name in sorted(_cited_names(text)):
            try:
                _resolve(name)
            except (ImportError, AttributeError) as err:
                missing.append(f"{page}: `{name}` ({type(err).__name__}: {err})")
    assert not missing, "names cited in docs/layers that do not exist:\n" + "\n".join(missing)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_layer_page_examples_run(page):
    text = (DOCS / page).read_text()
    blocks = _python_blocks(text)
    assert blocks, f"{page} has no python example"
    for block in blocks:
        exec(compile(block, str(DOCS / page), "exec"), {})


def _layer_table_names(text: str) -> set[str]:
    """Registered names in the first column of the "| name | layer | recurrence | kernel ... | reference |" table."""
    head = text.index("| name | layer | recurrence |")
    rows = text[head:].split("\n\n", 1)[0].splitlines()[2:]
    return {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}


def test_readme_and_index_list_every_registered_layer_in_one_table():
    from ssmlab.layers import layer_names

    root = DOCS.parents[1]
    for path in (root / "README.md", root / "docs" / "index.md"):
        text = path.read_text()
        assert _layer_table_names(text) == set(layer_names()), path
        for row in text[text.index("| name | layer | recurrence |"):].split("\n\n", 1)[0].splitlines()[2:]:
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            assert len(cells) == 5 and all(cells) and re.fullmatch(r"\[\w+\]", cells[4]), (path, row)
    assert _layer_table_names("| name | layer | recurrence |\n|---|\n| `a`, `b` | x |\n\nrest `c` |") == {"a", "b"}
