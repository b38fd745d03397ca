"""Imports go one way: core <- layers <- models <- train <- experiments <- cli (data and theory beside).

Every `import` in src/ssmlab (module level and inside functions, relative or absolute) is read from the
AST, resolved to the sub-package it reaches, and checked against the floors below. The private top-level
modules (`_atomic`, `_overrides`, `_roles`, ...) are the ground floor: anyone may import them, and they
import no sub-package.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ssmlab"
SUBPACKAGES = ("core", "data", "theory", "layers", "models", "train", "experiments")
ALLOWED = {  # sub-package -> the sub-packages it may import (besides itself and the ground floor)
    "core": set(),
    "data": {"core"},
    "theory": {"core"},
    "layers": {"core"},
    "models": {"core", "layers"},
    "train": {"core", "data", "layers", "models"},
    "experiments": {"core", "data", "layers", "models", "theory", "train"},
}
TOP = set(SUBPACKAGES)  # cli.py and ssmlab/__init__.py may import everything


def _floor(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else f"_top:{rel.stem}"


def _targets(path: Path, root: Path = SRC) -> set[str]:
    """The sub-packages (or `_top:name` modules) that the file `path` (inside package `root`) imports."""
    rel = path.relative_to(root)
    package = list(rel.parts[:-1])  # the package the module lives in, relative to ssmlab
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            parts = base + (node.module.split(".") if node.module else [])
            names = [parts] if parts else [[a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ssmlab":
            names = [node.module.split(".")[1:] or [a.name for a in node.names][:1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "ssmlab"]
        else:
            continue
        for parts in names:
            if parts:
                found.add(parts[0] if parts[0] in SUBPACKAGES else f"_top:{parts[0]}")
    return found


def test_the_import_graph_points_down():
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        me = _floor(path)
        for target in _targets(path) - {me}:
            if me.startswith("_top:") and me not in ("_top:cli", "_top:__init__"):
                ok = target.startswith("_top:")  # the ground floor imports only the ground floor
            elif me in ALLOWED:
                ok = target.startswith("_top:") and target not in ("_top:cli", "_top:__init__") \
                    or target in ALLOWED[me]
            else:
                ok = True  # cli.py, ssmlab/__init__.py
            if not ok:
                bad.append(f"{path.relative_to(SRC)} imports {target.removeprefix('_top:')}")
    assert not bad, "imports that climb a floor:\n" + "\n".join(bad)


def test_the_checker_sees_relative_absolute_and_lazy_imports(tmp_path):
    pkg = tmp_path / "ssmlab"
    (pkg / "layers").mkdir(parents=True)
    (pkg / "layers" / "x.py").write_text("from ..train import loop\n"
                                         "def f():\n    import ssmlab.experiments.digits\n"
                                         "    from . import base\n    from ssmlab._roles import r\n"
                                         "    from .. import cli\n")
    assert _targets(pkg / "layers" / "x.py", pkg) == {"train", "experiments", "layers", "_top:_roles", "_top:cli"}
