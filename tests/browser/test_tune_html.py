"""The tune report in a real headless Chromium."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_page
from tests.conftest import mh

pytestmark = pytest.mark.browser


def test_bars_and_table_render(browser: Any, in_tmp: Path) -> None:
    job = in_tmp / "job.py"
    job.write_text("data = [bytes(100) for _ in range(50_000)]\n")
    res = mh(
        "tune",
        "-q",
        "--repeat",
        "1",
        "--configs",
        "arena-max-2,pymalloc-off",
        "-o",
        "t",
        "--format",
        "none",
        "--",
        sys.executable,
        str(job),
        "<b>x</b>",
    )
    assert res.returncode == 0, res.stderr
    page, problems, dialogs = open_page(browser, in_tmp / "t" / "report.html", "#bars .main-svg")
    bars = page.eval_on_selector_all("#bars .bars .point", "els => els.length")
    assert bars == 6  # 3 configurations x (peak, final)
    names = page.eval_on_selector_all(
        "#configs tbody td:first-child", "els => els.map(e => e.textContent)"
    )
    assert names == ["baseline", "arena-max-2", "pymalloc-off"]
    assert "<b>x</b>" in page.inner_text("header .cmd")
    assert page.inner_text("#verdict").startswith("One run per configuration")
    assert page.inner_text("#threshold").startswith("run to run: peak RSS ±")
    assert problems == [] and dialogs == []
    page.close()
