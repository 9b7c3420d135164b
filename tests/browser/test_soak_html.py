"""The soak report in a real headless Chromium: the chart (series, warm-up band, trend), the
tables, and text from the target shown as text, never run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_page
from tests.conftest import ROOT, mh

pytestmark = pytest.mark.browser

EVIL = "/<img src=x onerror=alert(1)>"


def test_soak_report_renders_and_escapes(browser: Any, tmp_path: Path) -> None:
    run = tmp_path / "r"
    res = mh(
        "soak",
        "--wsgi",
        "examples.leaks.zoo:SHOP",
        "--path",
        "/checkout",
        "--path",
        EVIL,
        "-n",
        "600",
        "-o",
        str(run),
        cwd=ROOT,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    page, problems, dialogs = open_page(browser, run / "report.html", "#chart .main-svg")
    assert problems == [] and dialogs == []
    # the series and the fitted trend are drawn, and the warm-up band is a shape
    legend = page.eval_on_selector_all("#chart .legendtext", "els => els.map(e => e.textContent)")
    assert legend[:2] == ["Python heap after gc", "fitted trend (Theil-Sen)"]
    points = page.eval_on_selector_all(
        "#chart .scatterlayer .trace:first-child .point", "e => e.length"
    )
    assert points > 50
    assert page.eval_on_selector_all("#chart .shapelayer path", "e => e.length") >= 1
    assert "LEAK" in page.inner_text("#verdict")
    rows = page.eval_on_selector_all(
        "#endpoints tbody tr", "rows => rows.map(r => r.innerText.split('\\t'))"
    )
    verdicts = {r[0]: r[-1] for r in rows}
    assert verdicts == {"/checkout": "LEAK", EVIL: "ok"}  # shown as text
    assert page.eval_on_selector_all("img", "e => e.length") == 0
    assert "examples.leaks.zoo.Order" in page.inner_text("#growing")

    # memhound report re-renders a saved soak (text here; the page above came from it too)
    again = mh("report", str(run))
    assert again.returncode == 0, again.stderr
    assert "verdict: LEAK" in again.stdout and "/checkout" in again.stdout


def test_soak_report_says_the_limit_first(browser: Any, tmp_path: Path) -> None:
    import resource
    import textwrap

    (tmp_path / "sockapp.py").write_text(
        textwrap.dedent(
            """
            import socket

            KEEP = []


            def app(environ, start_response):
                KEEP.append(socket.socket())
                start_response("200 OK", [])
                return [b"ok"]
            """
        )
    )

    def low_nofile() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    run = tmp_path / "r"
    res = mh(
        "soak", "--wsgi", "sockapp:app", "-n", "600", "--no-snapshots", "-o", str(run),
        cwd=tmp_path, timeout=300, preexec_fn=low_nofile,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    page, problems, dialogs = open_page(browser, run / "report.html", "#chart .main-svg")
    assert problems == [] and dialogs == []
    assert page.inner_text("#verdict").startswith("LEAK: fds reached the limit of 256 (RLIMIT")
    rows = page.eval_on_selector_all(
        "#resources tbody tr", "rows => rows.map(r => r.innerText.split('\\t'))"
    )
    fds = next(r for r in rows if r[0] == "fds")
    assert fds[4] == "SATURATED" and fds[5].startswith("limit 256: RLIMIT_NOFILE of pid")
