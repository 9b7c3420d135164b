"""`memhound imports` on real modules in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import mh

MiB = 1024 * 1024


@pytest.fixture()
def project(in_tmp: Path) -> Path:
    pkg = in_tmp / "pkg_top"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import json\nfrom pkg_top import heavy, light\n")
    (pkg / "heavy.py").write_text(
        textwrap.dedent("""
        import collections
        DATA = bytearray(20 << 20)
        for i in range(0, len(DATA), 4096):
            DATA[i] = 1
    """)
    )
    (pkg / "light.py").write_text("import json, collections\n")
    return in_tmp


def test_a_module_that_allocates_20_mib_shows_it_in_place(project: Path) -> None:
    res = mh("imports", "-m", "pkg_top", "--format", "json", "-o", "r")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    nodes = {n["name"]: n for n in doc["nodes"]}
    heavy, top = nodes["pkg_top.heavy"], nodes["pkg_top"]
    assert heavy["parent"] == "pkg_top" and top["parent"] is None
    assert doc["roots"] == ["pkg_top"]
    assert abs(heavy["rss_bytes"] - 20 * MiB) <= 1 * MiB
    assert abs(heavy["traced_bytes"] - 20 * MiB) <= 0.2 * MiB
    assert top["rss_bytes"] >= heavy["rss_bytes"]
    assert top["self_rss_bytes"] < 2 * MiB
    assert "collections" in nodes and "pkg_top.light" in nodes["collections"]["also_imported_by"]
    assert nodes["pkg_top"]["distribution"] == "<your code>"
    assert nodes["json"]["distribution"] == "<stdlib>"
    saved = Path("r")
    assert (saved / "imports.json").exists() and (saved / "report.html").exists()
    text = mh("report", "r").stdout
    assert "pkg_top.heavy: 20.0 MiB" in text


def test_text_tree_with_cutoff(project: Path) -> None:
    res = mh("imports", "-m", "pkg_top", "--cutoff", "1MiB", "--no-html", "--no-traced")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "memhound imports: -m pkg_top"
    tree = [line for line in lines[3:] if line.strip()]
    assert tree[0].startswith("  pkg_top: ") and "+" in tree[0] and "smaller" in tree[0]
    assert tree[1].startswith("    pkg_top.heavy: 20.0 MiB (20.0 MiB)")
    assert all("re:" not in line for line in tree)  # folded below the cutoff


def _importtime_modules(code: str, cwd: Path) -> set[str]:
    def names(c: str) -> set[str]:
        err = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", c],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        return {line.split("|")[-1].strip() for line in err.splitlines() if "|" in line} - {
            "imported package"
        }

    loaded = set(
        json.loads(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"{code}\nimport sys, json\nprint(json.dumps(list(sys.modules)))",
                ],
                cwd=cwd,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    )
    # importtime also lists attempts that failed (`_winapi` on Linux): only what loaded counts.
    return (names(code) - names("pass")) & loaded


@pytest.mark.parametrize("module", ["pkg_top", "email.message", "http.server"])
def test_agrees_with_importtime_on_which_modules(project: Path, module: str) -> None:
    res = mh("imports", "-m", module, "--format", "json", "--no-html", "--no-traced")
    assert res.returncode == 0, res.stderr
    ours = {n["name"] for n in json.loads(res.stdout)["nodes"]}
    assert ours == _importtime_modules(f"import {module}", project)


def test_script_target_runs_with_its_arguments(in_tmp: Path) -> None:
    script = in_tmp / "job.py"
    script.write_text("import sys, json\nassert sys.argv[1:] == ['--flag', 'x'], sys.argv\n")
    res = mh("imports", "--format", "json", "--no-html", "--", str(script), "--flag", "x")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["ok"] and "json" in doc["roots"]


def test_a_script_is_its_own_main_module(in_tmp: Path) -> None:
    # pickle, multiprocessing and get_type_hints look things up in sys.modules["__main__"]
    script = in_tmp / "job.py"
    script.write_text(
        "import dataclasses, pickle, sys\n"
        "@dataclasses.dataclass\n"
        "class Point:\n"
        "    x: int\n"
        "assert pickle.loads(pickle.dumps(Point(1))) == Point(1)\n"
        "assert sys.modules['__main__'].__file__ == __file__\n"
    )
    res = mh("imports", "--format", "json", "--no-html", "--", str(script))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["ok"], res.stdout[-2000:]


def test_requirements_of_a_project(in_tmp: Path) -> None:
    (in_tmp / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1"\ndependencies = ["rich>=13", "psutil"]\n'
    )
    res = mh("imports", "--requirements", "--no-html", "--by-distribution")
    assert res.returncode == 0, res.stderr
    assert "rich" in res.stdout and "psutil" in res.stdout
    res = mh("imports", "--requirements", "--format", "json", "--no-html", "--no-traced")
    doc = json.loads(res.stdout)
    assert set(doc["roots"]) >= {"rich", "psutil"}
    dists = {n["name"]: n["distribution"] for n in doc["nodes"]}
    assert dists["rich"] == "rich" and dists["psutil"] == "psutil"


def test_requirements_not_installed(in_tmp: Path) -> None:
    (in_tmp / "requirements.txt").write_text("no-such-dist-memhound==1.0\n")
    res = mh("imports", "--requirements")
    assert res.returncode == 2 and "not installed" in res.stderr


def test_bad_targets(in_tmp: Path) -> None:
    res = mh("imports", "-m", "no_such_module_memhound")
    assert res.returncode == 2 and "cannot import 'no_such_module_memhound'" in res.stderr
    res = mh("imports", "missing.py")
    assert res.returncode == 2 and "script not found" in res.stderr
    res = mh("imports")
    assert res.returncode == 2 and "nothing to import" in res.stderr


def test_a_script_that_raises_still_gets_a_report(in_tmp: Path) -> None:
    script = in_tmp / "boom.py"
    script.write_text("import json\nraise RuntimeError('boom')\n")
    res = mh("imports", "--no-html", "-o", "r", str(script))
    assert res.returncode == 1
    assert "target failed: RuntimeError: boom" in res.stdout
    assert "json:" in res.stdout
    assert Path("r/imports.json").exists()
