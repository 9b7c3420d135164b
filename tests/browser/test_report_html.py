"""report.html in a real headless Chromium: the plot renders, markers show, text is text."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_page
from tests.conftest import mh

pytestmark = pytest.mark.browser

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    job = tmp / "job.py"
    job.write_text(
        "import time, memhound\n"
        "time.sleep(0.2)\n"
        f"memhound.checkpoint({EVIL!r}, output='none')\n"
        "data = [bytearray(1 << 20) for _ in range(80)]\n"
        "time.sleep(0.3)\n"
        "memhound.checkpoint('after load', output='none')\n"
        "del data\nimport gc\ngc.collect()\ntime.sleep(0.2)\n"
    )
    res = mh(
        "run", "-q", "-o", str(tmp / "run"), "--trace-python", "--", sys.executable, str(job), EVIL
    )
    assert res.returncode == 0, res.stderr
    return tmp / "run" / "report.html"


def test_plot_renders_with_markers_and_no_errors(browser: Any, report: Path) -> None:
    page, problems, dialogs = open_page(browser, report)
    # Lines are drawn: the total and the process, each a non-empty SVG path.
    paths = page.eval_on_selector_all(
        "#memory-plot .scatterlayer path.js-line", "els => els.map(e => e.getAttribute('d'))"
    )
    assert len(paths) >= 2 and all(d and len(d) > 20 for d in paths)
    legend = page.eval_on_selector("#memory-plot .legend", "e => e.textContent")
    assert "total PSS (tree)" in legend
    assert "checkpoints" in legend and "peak" in legend
    assert "Python heap (tracemalloc)" in legend
    assert "full gc / long pause" in legend
    annotations = page.eval_on_selector_all(
        "#memory-plot .annotation-text", "els => els.map(e => e.textContent)"
    )
    assert EVIL in annotations, annotations
    assert "after load" in annotations
    assert any(a.startswith("peak ") and "MiB" in a for a in annotations)
    # Checkpoints are drawn as dotted vertical lines.
    shapes = page.eval_on_selector_all("#memory-plot .shapelayer path", "els => els.length")
    assert shapes >= 2
    assert problems == []
    assert dialogs == []
    page.close()


def test_program_strings_show_as_text(browser: Any, report: Path) -> None:
    page, problems, dialogs = open_page(browser, report)
    labels = page.eval_on_selector_all(
        "#checkpoints td.label", "els => els.map(e => e.textContent)"
    )
    assert labels == [EVIL, "after load"]
    assert EVIL in page.inner_text("header .cmd")
    assert EVIL in page.title()
    # No element came from the label: the only scripts are the report's own three.
    assert page.eval_on_selector_all("script", "els => els.length") == 3
    assert dialogs == [] and problems == []
    page.close()


def test_report_opens_offline(browser: Any, report: Path) -> None:
    """Everything is inlined: the page asks the network for nothing."""
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    page.wait_for_selector("#memory-plot .main-svg", timeout=20_000)
    assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []
    page.close()
