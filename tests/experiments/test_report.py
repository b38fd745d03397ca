"""The report: built from every result folder, badges with classes, summary == rows, links and images resolve."""

import dataclasses
import json
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from ssmlab.experiments import registry
from ssmlab.experiments.plotting import new_figure, save
from ssmlab.experiments.registry import Claim, Experiment, Result
from ssmlab.experiments.report import TRACEBACK_FILE, VERDICTS
from ssmlab.experiments.runner import reproduce


@dataclasses.dataclass(frozen=True)
class _Cfg:
    size: int = 1


def _with_figure(cfg, out_dir: Path) -> Result:
    fig, ax = new_figure()
    ax[0, 0].plot(np.arange(5), np.arange(5) ** 2, label="x²")
    ax[0, 0].set_xlabel("x")
    ax[0, 0].legend()
    claims = [Claim("error decays", "10×", "12×", "pass"), Claim("plateau after decay", "≤ 2×", "3×", "fail"),
              Claim("slope", "1", "0.8", "partial")]
    return Result({"err": 0.1}, claims, [save(fig, out_dir / "curve.png")], "A toy experiment.")


def _info_only(cfg, out_dir: Path) -> Result:
    return Result({}, [Claim("spectral radius", "-", "0.99", "info"), Claim("exact", "0", "1e-15", "pass")])


def _raises(cfg, out_dir: Path) -> Result:
    raise RuntimeError("toy experiment broke")


def _exp(name, run):
    cfg = _Cfg()
    return Experiment(name, f"Paper of {name}", "a check", _Cfg, cfg, cfg, run)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    """Two invocations into one folder (as `ssmlab run NAME --out DIR` after a reproduction)."""
    out = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registry, "_EXPERIMENTS", {})
        for name, run in (("toy-figure", _with_figure), ("toy-info", _info_only), ("toy-error", _raises)):
            registry.register(_exp(name, run))
        reproduce(out, "quick", ["toy-figure", "toy-error"])
        results = reproduce(out, "quick", ["toy-info"])
    assert list(results) == ["toy-info"]
    return out


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.imgs, self.badges, self.counts = set(), [], [], [], {}
        self.rows: list[list[str]] = []  # badge verdicts per <tr> of the claims table
        self._table, self._badge, self._count = None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "table":
            self._table = a.get("id")
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "img":
            self.imgs.append(a["src"])
        if tag == "tr" and self._table == "claims":
            self.rows.append([])
        if tag == "span" and "data-verdict" in a:
            self._count = a["data-verdict"]
        if tag == "span" and "badge" in a.get("class", "").split():
            self._badge = a["class"].split()

    def handle_data(self, data):
        if self._badge is not None:
            self.badges.append((self._badge, data))
            if self._table == "claims" and self.rows:
                self.rows[-1].append(data)
            self._badge = None
        elif self._count is not None and data.strip():
            self.counts[self._count] = int(data)
            self._count = None

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    return page


def test_report_keeps_results_of_earlier_invocations(report_dir):
    md = (report_dir / "report.md").read_text()
    for name in ("toy-figure", "toy-info", "toy-error"):
        assert f"## {name}" in md
        assert f'id="exp-{name}"' in (report_dir / "report.html").read_text().replace("'", '"')


def test_html_badges_summary_links_and_images(report_dir):
    page = _parse(report_dir / "report.html")
    for classes, text in page.badges:
        assert classes[0] == "badge" and classes[1] == f"badge-{text}" and text in VERDICTS
    row_verdicts = [r[0] for r in page.rows if r]
    assert all(len(r) == 1 for r in page.rows if r)
    assert Counter(row_verdicts) == Counter({"pass": 2, "fail": 1, "partial": 1, "info": 1, "error": 1})
    assert page.counts == {v: row_verdicts.count(v) for v in VERDICTS}
    for href in page.hrefs:
        if href.startswith("#"):
            assert href[1:] in page.ids, href
        else:
            assert (report_dir / href).is_file(), href
    assert "#exp-toy-error" in page.hrefs and "#fig-toy-figure-curve" in page.hrefs
    assert page.imgs and all(src.startswith("data:image/png;base64,") for src in page.imgs)
    assert not any(ord(ch) > 0x2500 for ch in (report_dir / "report.html").read_text()[:4000])  # no emoji


def test_fail_rows_say_not_reproduced_and_errors_point_to_traceback(report_dir):
    text = (report_dir / "report.html").read_text()
    assert text.count("claim not reproduced") == 1
    tb = (report_dir / "toy-error" / TRACEBACK_FILE).read_text()
    assert "RuntimeError: toy experiment broke" in tb
    assert "could not run: <code>RuntimeError: toy experiment broke</code>" in text
    assert json.loads((report_dir / "toy-error" / "metrics.json").read_text())["traceback"] == TRACEBACK_FILE


def test_markdown_verdicts_are_plain_words_and_summary_counts_rows(report_dir):
    md = (report_dir / "report.md").read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith("| [")]
    verdicts = [ln.rstrip(" |").rsplit("| ", 1)[-1] for ln in rows]
    assert Counter(verdicts) == Counter({"pass": 2, "fail": 1, "partial": 1, "info": 1, "error": 1})
    assert "**Summary:** 2 pass, 1 partial, 1 fail, 1 info, 1 error over 3 experiments" in md
    assert "- [toy-error](#toy-error): 1 error" in md


@pytest.mark.slow
def test_report_screenshot_is_not_blank(report_dir, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed")
    from PIL import Image

    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1200,1000", (report_dir / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (1000, 1200)
    assert (img.min(axis=2) < 200).mean() > 0.01  # text and badges, not a white page
    for rgb in ((0x2E, 0x7D, 0x32), (0xC6, 0x28, 0x28), (0xB2, 0x6A, 0x00)):  # pass, fail, partial badges
        assert (np.abs(img - np.array(rgb)).sum(axis=2) < 30).sum() > 50, rgb
