"""Write report.md and report.html (figures embedded) from experiment results."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from .._atomic import atomic_write_text

_BADGE = {"pass": "✅ pass", "fail": "❌ fail", "partial": "⚠️ partial", "info": "ℹ️ info"}


def _md_escape(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _markdown(results, exps, env, preset) -> str:
    lines = [f"# ssmlab reproduction report ({preset})", "",
             "Environment: " + ", ".join(f"{k}={v}" for k, v in env.items()), ""]
    lines += ["## Summary", "", "| experiment | paper | claim | paper value | ours | verdict |",
              "|---|---|---|---|---|---|"]
    for name, res in results.items():
        if isinstance(res, str):
            lines.append(f"| {name} | {_md_escape(exps[name].paper)} | (experiment failed) | | | ❌ error |")
            continue
        for c in res.claims:
            lines.append(f"| {name} | {_md_escape(exps[name].paper)} | {_md_escape(c.claim)} | "
                         f"{_md_escape(c.paper)} | {_md_escape(c.ours)} | {_BADGE[c.verdict]} |")
    for name, res in results.items():
        lines += ["", f"## {name}", "", f"*{exps[name].paper}* — {exps[name].checks}", ""]
        if isinstance(res, str):
            lines += ["```", res.strip(), "```"]
            continue
        if res.summary:
            lines += [res.summary, ""]
        for fig in res.figures:
            lines.append(f"![{fig.name}]({name}/{fig.name})")
        lines += ["", f"Metrics: [`{name}/metrics.json`]({name}/metrics.json)"]
    return "\n".join(lines) + "\n"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _html(results, exps, env, preset) -> str:
    esc = html.escape
    rows = []
    for name, res in results.items():
        if isinstance(res, str):
            rows.append(f"<tr><td>{esc(name)}</td><td colspan=4>experiment failed</td><td>❌ error</td></tr>")
            continue
        for c in res.claims:
            rows.append("<tr>" + "".join(f"<td>{esc(str(x))}</td>" for x in
                                         (name, c.claim, c.paper, c.ours, _BADGE[c.verdict])) + "</tr>")
    sections = []
    for name, res in results.items():
        body = f"<h2>{esc(name)}</h2><p><i>{esc(exps[name].paper)}</i> — {esc(exps[name].checks)}</p>"
        if isinstance(res, str):
            body += f"<pre>{esc(res)}</pre>"
        else:
            body += f"<p>{esc(res.summary)}</p>" + "".join(_img(f) for f in res.figures if f.exists())
        sections.append(body)
    env_s = esc(", ".join(f"{k}={v}" for k, v in env.items()))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ssmlab report</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}</style></head><body>"
        f"<h1>ssmlab reproduction report ({esc(preset)})</h1><p>{env_s}</p>"
        "<table><tr><th>experiment</th><th>claim</th><th>paper</th><th>ours</th><th>verdict</th></tr>"
        + "".join(rows) + "</table>" + "".join(sections) + "</body></html>"
    )


def write_report(out_root: Path, results, exps, env, preset) -> tuple[Path, Path]:
    """Write report.md and a self-contained report.html into `out_root`."""
    md, page = out_root / "report.md", out_root / "report.html"
    for path, text in ((md, _markdown(results, exps, env, preset)), (page, _html(results, exps, env, preset))):
        atomic_write_text(path, text)
    return md, page
