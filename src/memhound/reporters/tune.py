"""Reports of ``memhound tune``: a table per configuration and the verdict."""

from __future__ import annotations

import json
import shlex

from memhound.analysis.tune import describe_needed, describe_stat
from memhound.model.tune import ConfigResult, TuneResult


def _ratio(r: float | None) -> str:
    return f"{r:.2f}x" if r is not None else "-"


def _outcome(c: ConfigResult) -> str:
    parts = []
    if c.better:
        parts.append("better: " + ", ".join(c.better))
    if c.worse:
        parts.append("worse: " + ", ".join(c.worse))
    if c.note:
        parts.append(c.note)
    return "; ".join(parts) or ("reference" if c.config == "baseline" else "within noise")


def threshold_text(result: TuneResult) -> str:
    """What a change had to exceed to count, and the spread behind it."""
    spread = ", ".join(f"{k} ±{v:.1%}" for k, v in result.noise.items())
    return (
        f"run to run: {spread}; with {result.repeat} runs each a change counts beyond "
        f"{describe_needed(result.needed)}, when the runs' order agrees"
    )


class TuneTextReporter:
    def render(self, result: TuneResult) -> str:
        lines = [
            f"memhound tune: {shlex.join(result.command)}",
            f"  {result.repeat} run(s) per configuration; peak RSS is the kernel's exact "
            "high-water mark, final RSS what the process held at exit",
            "",
            f"  {'configuration':<22} {'peak RSS (median, min-max)':<32} {'ratio':>6}  "
            f"{'final RSS':<32} {'ratio':>6}  {'wall time':<22} {'ratio':>6}  outcome",
        ]
        for c in result.configs:
            if c.runs == 0:
                lines.append(f"  {c.config:<22} {_outcome(c)}")
                continue
            lines.append(
                f"  {c.config:<22} {describe_stat(c.peak_rss):<32} {_ratio(c.peak_ratio):>6}  "
                f"{describe_stat(c.final_rss):<32} {_ratio(c.final_ratio):>6}  "
                f"{describe_stat(c.wall, seconds=True):<22} {_ratio(c.wall_ratio):>6}  "
                f"{_outcome(c)}"
            )
        lines += ["", f"verdict: {result.verdict}", ""]
        if result.needed:
            lines.insert(-2, "  " + threshold_text(result))
        return "\n".join(lines)


class TuneJsonReporter:
    def render(self, result: TuneResult) -> str:
        return json.dumps(result.to_dict(), indent=1) + "\n"


class TuneHtmlReporter:
    """Bars of each configuration's median peak and final RSS (min-max as error bars)."""

    def render(self, result: TuneResult) -> str:
        from memhound.reporters._page import escape, fill_template, safe_json

        ran = [c for c in result.configs if c.runs and c.peak_rss is not None]

        def series(attr: str) -> dict[str, list[float]]:
            stats = [getattr(c, attr) for c in ran]
            return {
                "median": [s.median if s else 0 for s in stats],
                "plus": [(s.high - s.median) if s else 0 for s in stats],
                "minus": [(s.median - s.low) if s else 0 for s in stats],
            }

        data = {
            "configs": [c.config for c in ran],
            "peak": series("peak_rss"),
            "final": series("final_rss"),
            "wall": series("wall"),
        }
        rows = "".join(
            f"<tr><td>{escape(c.config)}</td><td>{escape(c.description)}</td>"
            f"<td class=num>{escape(describe_stat(c.peak_rss))}</td>"
            f"<td class=num>{escape(_ratio(c.peak_ratio))}</td>"
            f"<td class=num>{escape(describe_stat(c.final_rss))}</td>"
            f"<td class=num>{escape(_ratio(c.final_ratio))}</td>"
            f"<td class=num>{escape(describe_stat(c.wall, seconds=True))}</td>"
            f"<td class=num>{escape(_ratio(c.wall_ratio))}</td><td>{escape(_outcome(c))}</td></tr>"
            for c in result.configs
        )
        return fill_template(
            "tune.html",
            {
                "TITLE": escape(f"memhound tune: {shlex.join(result.command)}"),
                "COMMAND": escape(shlex.join(result.command)),
                "VERDICT": escape(result.verdict),
                "THRESHOLD": escape(threshold_text(result)) if result.needed else "",
                "ROWS": rows,
                "DATA": safe_json(data),
            },
        )
