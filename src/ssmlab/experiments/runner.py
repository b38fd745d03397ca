"""Run registered experiments and collect their results into a report."""
from __future__ import annotations

import dataclasses
import json
import time
import traceback
from pathlib import Path
from typing import Literal

from .._atomic import atomic_write_text
from ..environment import environment
from ..progress import console
from .registry import Claim, Result, experiments, get
from .report import TRACEBACK_FILE, write_report


def _jsonable(x):
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(x).items()}
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "item") and getattr(x, "ndim", 1) == 0:
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return x


def write_json(path: Path, obj) -> None:
    """Write `obj` as indented JSON atomically (temp file + rename)."""
    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True))


def _relative(path: Path, root: Path) -> str:
    path = Path(path)
    return str(path.relative_to(root)) if path.is_absolute() and path.is_relative_to(root) else path.name


def run_one(name: str, out_root: Path, preset: Literal["quick", "full"] = "quick",
            overrides: dict[str, str] | None = None) -> Result:
    """Run one experiment into `out_root/name`, writing config.json and metrics.json.

    If the experiment raises, its traceback goes to `name/traceback.txt` and metrics.json records the
    error (so the report shows an error row rather than a stale result), then the exception propagates.
    """
    exp = get(name)
    cfg = exp.config(preset, overrides)
    out_dir = out_root / name
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "config.json", {"experiment": name, "preset": preset, "config": cfg,
                                         "environment": environment()})
    start = time.perf_counter()
    try:
        result = exp.run(cfg, out_dir)
        result.metrics.setdefault("wall_seconds", round(time.perf_counter() - start, 2))
        _write_metrics(out_dir, result)
        if exp.plot is not None:  # figures are drawn from the file just written, never from memory
            result.figures = [*result.figures, *exp.plot(read_metrics(out_dir), out_dir)]
            _write_metrics(out_dir, result)
    except Exception as err:
        atomic_write_text(out_dir / TRACEBACK_FILE, traceback.format_exc())
        write_json(out_dir / "metrics.json", {"error": f"{type(err).__name__}: {err}", "traceback": TRACEBACK_FILE,
                                              "wall_seconds": round(time.perf_counter() - start, 2)})
        raise
    (out_dir / TRACEBACK_FILE).unlink(missing_ok=True)
    return result


def _write_metrics(out_dir: Path, result: Result) -> None:
    write_json(out_dir / "metrics.json", {"metrics": result.metrics, "claims": result.claims,
                                          "summary": result.summary,
                                          "figures": [_relative(f, out_dir) for f in result.figures]})


def read_metrics(out_dir: Path) -> dict:
    """The `metrics` mapping of `out_dir/metrics.json` (ValueError if it is missing or records an error)."""
    return _read_record(Path(out_dir))["metrics"]


def _read_record(out_dir: Path) -> dict:
    """All of `out_dir/metrics.json` (metrics, claims, summary, figures), checked to hold metrics."""
    path = out_dir / "metrics.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist: run the experiment first (`ssmlab run NAME --out DIR`).") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); rerun the experiment.") from None
    if "metrics" not in data:
        raise ValueError(f"{path} holds no metrics (the run ended with {data.get('error', 'an error')}); "
                         "rerun the experiment.")
    return data


def replot(name: str, out_root: Path) -> list[Path]:
    """Redraw experiment `name`'s figures in `out_root/name` from its metrics.json alone; returns their paths."""
    exp = get(name)
    out_dir = Path(out_root) / name
    data = _read_record(out_dir)
    if exp.plot is None:
        return []
    figures = exp.plot(data["metrics"], out_dir)
    data["figures"] = sorted({*data.get("figures", []), *(_relative(f, out_dir) for f in figures)})
    write_json(out_dir / "metrics.json", data)
    return figures


def reproduce(out_root: Path, preset: Literal["quick", "full"] = "quick", only: list[str] | None = None,
              overrides: dict[str, str] | None = None) -> dict[str, Result | str]:
    """Run the selected experiments (all by default), then write report.md and report.html.

    A failing experiment does not stop the others; its traceback goes to the report. The report
    covers every experiment result in `out_root`, including those of earlier invocations (so
    `ssmlab run NAME --out DIR` updates NAME's rows in a full reproduction's report).
    """
    names = only or list(experiments())
    for n in names:
        get(n).config(preset, overrides)  # fail fast on unknown names and bad overrides
    out_root.mkdir(parents=True, exist_ok=True)
    results: dict[str, Result | str] = {}
    for i, name in enumerate(names, 1):
        console.rule(f"[{i}/{len(names)}] {name}")
        start = time.perf_counter()
        try:
            results[name] = run_one(name, out_root, preset, overrides)
            verdicts = ", ".join(c.verdict for c in results[name].claims)
            console.print(f"  done in {time.perf_counter() - start:.1f}s: {verdicts}")
        except Exception:  # noqa: BLE001 - the report must show every failure, not just the first
            results[name] = traceback.format_exc()
            console.print(f"  [red]failed[/red] after {time.perf_counter() - start:.1f}s")
            console.print(results[name])
    write_report(out_root, experiments(), environment())
    return results


__all__ = ["Claim", "environment", "read_metrics", "replot", "reproduce", "run_one", "write_json"]
