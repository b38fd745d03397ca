"""mkdocs hooks: the API reference and the reproduction table are generated from the package itself.

* one API page per sub-package (`api/<name>.md`), with a `::: module` block for every public module
  found by `pkgutil`, so a new module is documented without editing the site;
* `<!-- ssmlab:experiments -->` in a page becomes the table of registered experiments (name,
  paper, what it checks), so the reproduction page cannot drift from `ssmlab list`.
"""

from __future__ import annotations

import importlib
import pkgutil

from mkdocs.structure.files import File

PACKAGES = {  # sub-package -> page title (the order of the API section in mkdocs.yml)
    "core": "ssmlab.core — pure maths",
    "layers": "ssmlab.layers — sequence layers",
    "models": "ssmlab.models — stacked models",
    "theory": "ssmlab.theory — learning dynamics and expressivity",
    "data": "ssmlab.data — datasets and tasks",
    "train": "ssmlab.train — training",
    "experiments": "ssmlab.experiments — paper results",
}
MARKER = "<!-- ssmlab:experiments -->"


def public_modules(package: str) -> list[str]:
    """`ssmlab.<package>` and its public sub-modules (no `_private` parts), sorted."""
    pkg = importlib.import_module(f"ssmlab.{package}")
    names = [f"ssmlab.{package}"]
    for info in pkgutil.walk_packages(pkg.__path__, f"ssmlab.{package}."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def api_page(package: str) -> str:
    lines = [f"# {PACKAGES[package]}", ""]
    for name in public_modules(package):
        options = "    options:\n      members_order: source\n      show_submodules: false\n"
        lines += [f"## `{name}`", "", f"::: {name}", options]
    return "\n".join(lines)


def experiments_table() -> str:
    from ssmlab.experiments import experiments

    rows = ["| experiment | paper / source | what it checks |", "|---|---|---|"]
    for name, exp in experiments().items():
        rows.append(f"| `{name}` | {exp.paper} | {exp.checks} |")
    return "\n".join(rows)


def on_files(files, config):
    for package in PACKAGES:
        files.append(File.generated(config, f"api/{package}.md", content=api_page(package)))
    return files


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, experiments_table())
    return markdown
