"""What every HTML page of memhound is made with: its template, escaping, embedded JSON and
Plotly.js.

Every string from the program is escaped: HTML text through :func:`escape`, chart labels in the
page's script (each template's ``esc``), the embedded JSON through :func:`safe_json` so that
``</script>`` cannot end its block. Plotly.js comes from the ``plotly`` Python package (which
ships the bundle); it is inlined so that a page opens offline.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from memhound.errors import MissingDependency

TEMPLATES = Path(__file__).parent / "templates"


def escape(value: object) -> str:
    """``value`` as HTML text (quotes too, so it can also sit in an attribute)."""
    return html.escape(str(value), quote=True)


def plotly_js() -> str:
    """The Plotly.js bundle shipped by the ``plotly`` package, found without importing it."""
    spec = importlib.util.find_spec("plotly")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        candidate = Path(loc) / "package_data" / "plotly.min.js"
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise MissingDependency(
        "the HTML report needs Plotly.js from the 'plotly' package",
        hint="pip install 'plotly>=5.18' (memhound depends on it; reinstall memhound)",
    )


def safe_json(data: Any) -> str:
    """JSON that can sit inside <script> without ending it or opening a comment."""
    return (
        json.dumps(data, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


#: Pieces every page shares, put in place before the values: ``@@HEAD@@`` (doctype, meta,
#: title), ``@@BASECSS@@`` (the common styles; a page's own follow them) and ``@@SCRIPTS@@``
#: (the data block, Plotly.js, and ``memhound.data`` / ``memhound.esc`` for the page's script).
PARTIALS = {"HEAD": "_head.html", "BASECSS": "_base.css", "SCRIPTS": "_scripts.html"}


def fill_template(name: str, values: dict[str, str]) -> str:
    """The template ``templates/NAME`` with its ``PARTIALS`` in place, then ``@@KEY@@`` replaced
    by ``values[KEY]`` in one pass (text we insert is never searched for placeholders);
    ``@@PLOTLY@@`` is Plotly.js."""
    template = re.sub(
        "@@(" + "|".join(PARTIALS) + ")@@\n",
        lambda m: (TEMPLATES / PARTIALS[m.group(1)]).read_text(encoding="utf-8"),
        (TEMPLATES / name).read_text(encoding="utf-8"),
    )

    def value(m: re.Match[str]) -> str:
        key = m.group(1)
        if key == "PLOTLY":
            return plotly_js().replace("</script", "<\\/script")
        return values[key]

    return re.sub(r"@@([A-Z]+)@@", value, template)
