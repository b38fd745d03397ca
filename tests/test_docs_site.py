"""The documentation site builds offline with warnings as errors (`make docs`), and what it generates is there.

The build is the same command as `make docs` (mkdocs --strict: a broken link, a missing page, a bad
docstring section or an unresolved cross-reference fails), written to a temporary directory.
"""

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_api_reference_covers_every_public_module(site):
    import pkgutil

    import ssmlab

    pages = {p: (site / "api" / p / "index.html").read_text() for p in
             ("core", "layers", "models", "theory", "data", "train", "experiments")}
    for info in pkgutil.walk_packages(ssmlab.__path__, "ssmlab."):
        parts = info.name.split(".")
        if len(parts) < 3 or any(part.startswith("_") for part in parts):
            continue
        assert info.name in pages[parts[1]], f"{info.name} missing from api/{parts[1]}"
    # docstrings are rendered, not just headings
    assert "causal" in pages["core"] and "class" in pages["layers"]


def test_reproduction_page_lists_every_experiment_and_its_figures_exist(site):
    from ssmlab.experiments import experiments

    page = site / "reproduction" / "index.html"
    html = page.read_text()
    for name in experiments():
        assert f"<code>{name}</code>" in html, name
    parser = _Refs()
    parser.feed(html)
    assert len(parser.images) >= 6
    for src in parser.images:
        assert (page.parent / src).resolve().is_file(), src


def test_every_docs_page_is_in_the_site(site):
    for md in (ROOT / "docs").rglob("*.md"):
        rel = md.relative_to(ROOT / "docs")
        if rel.parts[0] == "hooks":
            continue
        html = site / (("" if rel.stem == "index" else rel.with_suffix("").as_posix() + "/") + "index.html")
        assert html.is_file(), rel
        assert re.search(r"<h1", html.read_text()), rel
