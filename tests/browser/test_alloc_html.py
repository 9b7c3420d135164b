"""The allocation report page in a real headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_page
from tests.conftest import mh

pytestmark = pytest.mark.browser

PROGRAM = """
class Basket:
    pass
baskets = [Basket() for _ in range(2000)]
evil = ["<script>alert('x')</script><img src=x onerror=alert(2)>" + str(i % 3) for i in range(300)]
"""


def test_tables_icicle_and_escaped_strings(browser: Any, in_tmp: Path) -> None:
    (in_tmp / "shop.py").write_text(PROGRAM)
    res = mh("profile", "-o", "r", "--format", "none", "shop.py")
    assert res.returncode == 0, res.stderr
    page, problems, dialogs = open_page(browser, in_tmp / "r" / "report.html", "#icicle .main-svg")
    totals = page.eval_on_selector_all("#totals tbody th", "els => els.map(e => e.textContent)")
    assert totals == ["allocated", "retained", "peak"]
    headings = page.eval_on_selector_all("section.table h2", "els => els.map(e => e.textContent)")
    assert "retained memory by type" in headings and "retained strings" in headings
    types = page.eval_on_selector_all("section.table td.key", "els => els.map(e => e.textContent)")
    assert "__main__.Basket" in types
    assert any("<script>alert('x')</script>" in t for t in types), types  # shown as text
    assert page.eval_on_selector_all("img[src=x]", "els => els.length") == 0
    assert page.eval_on_selector_all("#icicle .slice", "els => els.length") > 2
    buttons = page.eval_on_selector_all(
        "#icicle .updatemenu-button text", "els => els.map(e => e.textContent)"
    )
    assert buttons == ["allocated", "retained"]
    page.click("#icicle .updatemenu-button >> nth=1")
    page.wait_for_timeout(300)
    assert page.eval_on_selector_all("#icicle .slice", "els => els.length") > 2
    assert problems == [] and dialogs == []
    page.close()
