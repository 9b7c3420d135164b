"""The import-cost icicle chart in a real headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_page
from tests.conftest import mh

pytestmark = pytest.mark.browser


def test_icicle_renders_every_module(browser: Any, in_tmp: Path) -> None:
    res = mh("imports", "-m", "email.message", "-o", "r", "--format", "none")
    assert res.returncode == 0, res.stderr
    page, problems, dialogs = open_page(browser, in_tmp / "r" / "report.html", "#icicle .main-svg")
    labels = page.eval_on_selector_all(
        "#icicle .slice text.slicetext", "els => els.map(e => e.textContent)"
    )
    assert any("message" in t for t in labels), labels
    buttons = page.eval_on_selector_all(
        "#icicle .updatemenu-button text", "els => els.map(e => e.textContent)"
    )
    assert buttons == ["RSS", "Python heap", "time"]
    page.click("#icicle .updatemenu-button >> nth=2")  # switch to time: still renders
    page.wait_for_timeout(300)
    assert page.eval_on_selector_all("#icicle .slice", "els => els.length") > 3
    assert problems == [] and dialogs == []
    page.close()
