"""Write report.md and report.html (figures embedded) from the experiment results in a folder.

The report is built from every experiment folder present (`NAME/metrics.json`), not only from the
experiments of the last invocation, so `ssmlab run NAME --out DIR` keeps the other experiments of a
full reproduction in DIR's report. Verdicts are plain words in Markdown and CSS-styled text badges
in HTML (no emoji glyphs, so they render with any font). An experiment that raised is an "error"
row pointing at its traceback file, distinct from a "fail" row (the paper's claim not reproduced).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
from collections import Counter
from pathlib import Path

from .._atomic import atomic_write_text
from .registry import Claim, Experiment, Result

VERDICTS = ("pass", "partial", "fail", "info", "error")
TRACEBACK_FILE = "traceback.txt"

_CSS = (
    "body{font-family:sans-serif;max-width:1150px;margin:auto;padding:1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;"
    "vertical-align:top}th{background:#f3f3f3}a{color:#1a5fb4}#claims td:first-child{white-space:nowrap}"
    ".badge{display:inline-block;min-width:4.2em;text-align:center;padding:1px 6px;border-radius:4px;"
    "font-weight:bold;font-size:90%;color:#fff}"
    ".badge-pass{background:#2e7d32}.badge-partial{background:#b26a00}.badge-fail{background:#c62828}"
    ".badge-info{background:#6b6b6b}.badge-error{background:#6a1b9a}"
    ".kind{font-size:85%;color:#555}figure{margin:1em 0}figcaption{font-size:85%;color:#555}"
)


@dataclasses.dataclass
class Entry:
    """One experiment's outcome as read back from its folder: a Result, or the traceback of a raise."""

    name: str
    preset: str
    result: Result | None
    traceback: str | None = None
    wall_seconds: float | None = None

    @property
    def verdicts(self) -> list[str]:
        """The verdict of each row this experiment contributes ("error" once if it raised)."""
        return ["error"] if self.result is None else [c.verdict for c in self.result.claims]


def load_entries(out_root: Path, exps: dict[str, Experiment]) -> list[Entry]:
    """Every experiment of `exps` that has a `NAME/metrics.json` in `out_root`, sorted by name."""
    entries = []
    for name in sorted(exps):
        path = out_root / name / "metrics.json"
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        cfg_path = out_root / name / "config.json"
        preset = json.loads(cfg_path.read_text()).get("preset", "?") if cfg_path.is_file() else "?"
        wall = data.get("wall_seconds", data.get("metrics", {}).get("wall_seconds"))
        if "error" in data:
            tb = out_root / name / data.get("traceback", TRACEBACK_FILE)
            text = tb.read_text() if tb.is_file() else data["error"]
            entries.append(Entry(name, preset, None, text, wall))
            continue
        figures = data.get("figures")
        figs = ([out_root / name / f for f in figures] if figures is not None
                else sorted((out_root / name).glob("*.png")))
        result = Result(data["metrics"], [Claim(**c) for c in data["claims"]], figs, data.get("summary", ""))
        entries.append(Entry(name, preset, result, None, wall))
    return entries


def _counts(verdicts) -> str:
    c = Counter(verdicts)
    return ", ".join(f"{c[v]} {v}" for v in VERDICTS if c[v]) or "no rows"


def _wall(entries: list[Entry]) -> float:
    return float(sum(e.wall_seconds or 0.0 for e in entries))


def _error_line(tb: str) -> str:
    lines = [ln for ln in tb.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "unknown error"


def _md_escape(s) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _presets(entries: list[Entry]) -> str:
    return "/".join(sorted({e.preset for e in entries})) or "empty"


def _markdown(entries: list[Entry], exps, env) -> str:
    verdicts = [v for e in entries for v in e.verdicts]
    lines = [f"# ssmlab reproduction report ({_presets(entries)})", "",
             f"**Summary:** {_counts(verdicts)} over {len(entries)} experiments; "
             f"wall time {_wall(entries):.0f} s (sum over experiments).", "",
             "Environment: " + ", ".join(f"{k}={v}" for k, v in env.items()), ""]
    lines += [f"- [{e.name}](#{e.name}): {_counts(e.verdicts)}" for e in entries]
    lines += ["", "## Claims", "", "| experiment | paper | claim | paper value | ours | verdict |",
              "|---|---|---|---|---|---|"]
    for e in entries:
        paper = _md_escape(exps[e.name].paper)
        if e.result is None:
            lines.append(f"| [{e.name}](#{e.name}) | {paper} | could not run: {_md_escape(_error_line(e.traceback))} "
                         f"([{TRACEBACK_FILE}]({e.name}/{TRACEBACK_FILE})) | | | error |")
            continue
        for c in e.result.claims:
            ours = _md_escape(c.ours) + (" (claim not reproduced)" if c.verdict == "fail" else "")
            lines.append(f"| [{e.name}](#{e.name}) | {paper} | {_md_escape(c.claim)} | "
                         f"{_md_escape(c.paper)} | {ours} | {c.verdict} |")
    for e in entries:
        lines += ["", f"## {e.name}", "", f"*{exps[e.name].paper}* — {exps[e.name].checks}", ""]
        if e.result is None:
            lines += [f"Could not run; traceback in [`{e.name}/{TRACEBACK_FILE}`]({e.name}/{TRACEBACK_FILE}):",
                      "", "```", e.traceback.strip(), "```"]
            continue
        if e.result.summary:
            lines += [e.result.summary, ""]
        lines += [f"![{fig.name}]({e.name}/{fig.name})" for fig in e.result.figures]
        lines += ["", f"Metrics: [`{e.name}/metrics.json`]({e.name}/metrics.json)"]
    return "\n".join(lines) + "\n"


def _badge(verdict: str) -> str:
    return f'<span class="badge badge-{verdict}">{verdict}</span>'


def _fig_id(name: str, fig: Path) -> str:
    return f"fig-{name}-{fig.stem}"


def _img(name: str, path: Path) -> str:
    esc = html.escape
    if not path.is_file():
        return f"<p>figure {esc(path.name)} missing</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure id="{esc(_fig_id(name, path))}"><img alt="{esc(path.name)}" '
            f'src="data:image/png;base64,{data}" style="max-width:100%"><figcaption>{esc(path.name)}'
            "</figcaption></figure>")


def _html_rows(entries: list[Entry], exps) -> str:
    esc = html.escape
    rows = []
    for e in entries:
        link = f'<a href="#exp-{esc(e.name)}">{esc(e.name)}</a>'
        if e.result is None:
            rows.append(f"<tr class='row-error'><td>{link}</td><td colspan=3>could not run: "
                        f"<code>{esc(_error_line(e.traceback))}</code> "
                        f"(<a href='{esc(e.name)}/{TRACEBACK_FILE}'>{TRACEBACK_FILE}</a>)</td>"
                        f"<td>{_badge('error')}<br><span class='kind'>could not run</span></td><td></td></tr>")
            continue
        figs = " ".join(f'<a href="#{esc(_fig_id(e.name, f))}">{esc(f.stem)}</a>'
                        for f in e.result.figures if f.is_file())
        for c in e.result.claims:
            kind = "<br><span class='kind'>claim not reproduced</span>" if c.verdict == "fail" else ""
            cells = "".join(f"<td>{esc(str(x))}</td>" for x in (c.claim, c.paper, c.ours))
            rows.append(f"<tr class='row-{c.verdict}'><td>{link}</td>{cells}<td>{_badge(c.verdict)}{kind}</td>"
                        f"<td>{figs}</td></tr>")
    return ("<table id='claims'><tr><th>experiment</th><th>claim</th><th>paper</th><th>ours</th>"
            "<th>verdict</th><th>figures</th></tr>" + "".join(rows) + "</table>")


def _html_summary(entries: list[Entry], env) -> str:
    esc = html.escape
    c = Counter(v for e in entries for v in e.verdicts)
    counts = " ".join(f"<span class='count' data-verdict='{v}'>{_badge(v)} {c[v]}</span>" for v in VERDICTS)
    per = "".join(f"<tr><td><a href='#exp-{esc(e.name)}'>{esc(e.name)}</a></td><td>{esc(e.preset)}</td>"
                  f"<td>{esc(_counts(e.verdicts))}</td><td>{(e.wall_seconds or 0):.1f} s</td></tr>"
                  for e in entries)
    env_s = esc(", ".join(f"{k}={v}" for k, v in env.items()))
    return (f"<div id='summary'><p class='counts'>{counts}</p>"
            f"<p>{len(entries)} experiments, wall time {_wall(entries):.0f} s (sum over experiments).</p>"
            f"<p>Environment: {env_s}</p>"
            "<table id='experiments'><tr><th>experiment</th><th>preset</th><th>rows</th><th>wall</th></tr>"
            + per + "</table></div>")


def _html(entries: list[Entry], exps, env) -> str:
    esc = html.escape
    sections = []
    for e in entries:
        exp = exps[e.name]
        body = (f"<section id='exp-{esc(e.name)}'><h2>{esc(e.name)}</h2>"
                f"<p><i>{esc(exp.paper)}</i> — {esc(exp.checks)}</p>")
        if e.result is None:
            body += (f"<p>{_badge('error')} could not run; traceback in "
                     f"<a href='{esc(e.name)}/{TRACEBACK_FILE}'>{esc(e.name)}/{TRACEBACK_FILE}</a>:</p>"
                     f"<pre>{esc(e.traceback)}</pre>")
        else:
            body += (f"<p>{esc(e.result.summary)}</p>" + "".join(_img(e.name, f) for f in e.result.figures)
                     + f"<p>Metrics: <a href='{esc(e.name)}/metrics.json'>{esc(e.name)}/metrics.json</a></p>")
        sections.append(body + "</section>")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>ssmlab report</title><style>{_CSS}</style>"
        f"</head><body><h1>ssmlab reproduction report ({esc(_presets(entries))})</h1>"
        + _html_summary(entries, env) + "<h2>Claims</h2>" + _html_rows(entries, exps)
        + "".join(sections) + "</body></html>"
    )


def write_report(out_root: Path, exps: dict[str, Experiment], env) -> tuple[Path, Path]:
    """Write report.md and a self-contained report.html into `out_root` from every result folder there."""
    entries = load_entries(out_root, exps)
    md, page = out_root / "report.md", out_root / "report.html"
    atomic_write_text(md, _markdown(entries, exps, env))
    atomic_write_text(page, _html(entries, exps, env))
    return md, page
