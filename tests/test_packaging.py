"""Packaging: PEP 561 marker shipped, no unused dependencies, `ssmlab info` prints each key once."""

import re
import tomllib
from pathlib import Path

from typer.testing import CliRunner

import ssmlab
from ssmlab.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_py_typed_is_in_the_package_and_declared():
    assert (Path(ssmlab.__file__).parent / "py.typed").is_file()
    assert "src/ssmlab/py.typed" in _pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["artifacts"]


def test_every_runtime_dependency_is_imported_somewhere():
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "ssmlab").rglob("*.py"))
    imports = {"scikit-learn": "sklearn", "pillow": "PIL"}
    for dep in _pyproject()["project"]["dependencies"]:
        name = re.split(r"[<>=!~ \[]", dep, maxsplit=1)[0]
        module = imports.get(name, name.replace("-", "_"))
        assert re.search(rf"^\s*(from|import) {module}\b", source, re.M), f"{name} is a dependency but never imported"


def test_info_prints_each_key_once():
    result = CliRunner().invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    keys = [line.split(":", 1)[0].strip() for line in result.output.splitlines() if ":" in line]
    assert keys.count("x64") == 1 and len(keys) == len(set(keys)) and "jax" in keys
