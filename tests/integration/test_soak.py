"""`memhound soak` in-process on the leak zoo: leaks found and measured, controls left alone."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest

from tests.conftest import ROOT, mh
from tests.servers import Postgres, Redis

ZOO = "examples.leaks.zoo"


def soak(*args: str) -> dict:  # type: ignore[type-arg]
    res = mh("soak", "--json", *args, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_a_module_level_list_is_a_leak_with_its_size_and_holder(tmp_path: object) -> None:
    doc = soak("--wsgi", f"{ZOO}:AUDIT_TRAIL", "-n", "2000", "-o", f"{tmp_path}/r")
    assert doc["leak"] is True
    # One Order (56 B) + its __dict__ + bytes(1000) (1033 B) + a list slot (8 B): ~1.1 KiB.
    assert 0.75 * 1130 <= doc["bytes_per_request"] <= 1.25 * 1130
    lo, hi = doc["ci95"]
    assert lo <= doc["bytes_per_request"] <= hi
    assert doc["warmup_requests"] == 200 and doc["requests"] == 2000
    top = doc["growing"][0]
    assert top["class_name"] == f"{ZOO}.Order"
    assert top["path"].startswith(f"module {ZOO} -> _AUDIT -> list[")
    assert set(doc) >= {
        "leak",
        "bytes_per_request",
        "ci95",
        "warmup_requests",
        "requests",
        "per_endpoint",
        "growing",
        "resources",
    }


def test_what_grows_lists_nothing_of_memhound(tmp_path: object) -> None:
    # memhound's own frames were listed as growth: the soak's dict of the snapshots taken
    # ("held by ... soak engine.py -> taken") and the snapshot's Path (matched by address
    # to the previous snapshot's one).
    doc = soak("--wsgi", f"{ZOO}:LISTENERS", "-n", "1500", "-o", f"{tmp_path}/r")
    assert doc["leak"] is True and doc["growing"], doc
    assert doc["growing"][0]["path"].startswith(f"module {ZOO} -> _LISTENERS -> list[")
    for g in doc["growing"]:
        text = f"{g['class_name']} {g['path']}"
        assert "memhound" not in text and "numpy" not in text, g
        assert not g["class_name"].startswith("pathlib."), g
        # nor the fd reserve's context manager, made at each use while a snapshot was taken
        assert not g["class_name"].startswith("contextlib."), g


def test_a_slow_leak_under_big_temporaries(tmp_path: object) -> None:
    doc = soak("--wsgi", f"{ZOO}:SLOW_LEAK", "-n", "3000", "--no-snapshots", "-o", f"{tmp_path}/r")
    assert doc["leak"] is True
    assert 0.75 * 101 <= doc["bytes_per_request"] <= 1.25 * 101  # 60-char bytes + list slot


@pytest.mark.parametrize("app", ["BOUNDED_CACHE", "LAZY_INIT", "BIG_TEMPORARIES", "CYCLES"])
def test_controls_are_not_leaks(app: str, tmp_path: object) -> None:
    doc = soak("--wsgi", f"{ZOO}:{app}", "-n", "1500", "-o", f"{tmp_path}/r")
    assert doc["leak"] is False, doc
    assert doc["growing"] == []


def test_which_endpoint_leaks(tmp_path: object) -> None:
    doc = soak(
        "--wsgi",
        f"{ZOO}:SHOP",
        "--path",
        "/checkout",
        "--path",
        "/browse",
        "-n",
        "1500",
        "--no-snapshots",
        "-o",
        f"{tmp_path}/r",
    )
    ends = {e["endpoint"]: e for e in doc["per_endpoint"]}
    assert ends["/checkout"]["leak"] is True and ends["/browse"]["leak"] is False
    assert doc["leak"] is True


def test_files_per_request_grow_the_fds(tmp_path: object) -> None:
    doc = soak(
        "--wsgi", f"{ZOO}:FILE_PER_REQUEST", "-n", "600", "--no-snapshots", "-o", f"{tmp_path}/r"
    )
    assert doc["resources"]["fds"]["leak"] is True
    assert 0.9 < doc["resources"]["fds"]["per_request"] < 1.1
    assert doc["resources"]["threads"]["leak"] is False
    assert doc["resources"]["fds.device"]["leak"] is True  # /dev/null, by kind
    (left,) = doc["left_open"]  # 600 files + 60 from the deep-stack round, one place
    assert doc["stacks_requests"] == 60
    assert left["kind"] == "file" and left["count"] == 600 + 60
    assert left["created_at"].startswith(str(ROOT / "examples" / "leaks" / "zoo.py") + ":")


def test_a_callable_as_the_unit_of_work_and_fail_on_leak(tmp_path: object) -> None:
    res = mh(
        "soak",
        "--call",
        f"{ZOO}:audit_step",
        "-n",
        "1000",
        "--no-snapshots",
        "--fail-on-leak",
        "-o",
        f"{tmp_path}/r",
        cwd=ROOT,
    )
    assert res.returncode == 1, res.stderr
    assert "verdict: LEAK" in res.stdout


def test_bad_targets(tmp_path: object) -> None:
    res = mh("soak", "--wsgi", "no_such_module_memhound:app", cwd=ROOT)
    assert res.returncode == 2 and "cannot import 'no_such_module_memhound'" in res.stderr
    res = mh("soak", "--wsgi", "nocolon", cwd=ROOT)
    assert res.returncode == 2 and "not a module:attribute target" in res.stderr
    res = mh("soak", "--wsgi", f"{ZOO}:NOPE", cwd=ROOT)
    assert res.returncode == 2 and "has no attribute 'NOPE'" in res.stderr


def test_database_and_redis_connections_per_request(
    tmp_path: object, postgres: Postgres, redis_server: Redis
) -> None:
    import os

    env = {**os.environ, "ZOO_DSN": postgres.dsn, "ZOO_REDIS_PORT": str(redis_server.port)}

    def run(app: str, *extra: str) -> dict:  # type: ignore[type-arg]
        res = mh(
            "soak",
            "--json",
            "--wsgi",
            f"{ZOO}:{app}",
            "-n",
            "120",
            "--no-snapshots",
            "--warmup",
            "20",
            "-o",
            f"{tmp_path}/{app}",
            *extra,
            cwd=ROOT,
            env=env,
        )
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)  # type: ignore[no-any-return]

    leaky = run("DB_CONNECTION_PER_REQUEST", "--postgres", postgres.dsn)
    assert leaky["resources"]["postgres.backends"]["leak"] is True
    assert leaky["resources"]["postgres.backends"]["last"] >= 50
    closed = run("DB_CONNECTION_CLOSED", "--postgres", postgres.dsn)
    assert closed["resources"]["postgres.backends"]["leak"] is False
    redis_leak = run("REDIS_CLIENT_PER_REQUEST", "--redis", redis_server.url)
    assert redis_leak["resources"]["redis.clients"]["leak"] is True


class Ticket:
    """Made on purpose by the test below: the growth between its second and third snapshot."""


def test_the_snapshotted_process_that_grew_is_the_one_judged(tmp_path: Path) -> None:
    """Of a server's workers snapshotted together, the one whose new objects retained most
    between the second and third snapshots is judged (the requests of those rounds may all
    go to another worker than the one that grew in the verdict run); what memhound's agent
    module holds is never growth."""
    import memhound
    from memhound.workflows.soak.engine import _growing_of

    agent = types.ModuleType("_memhound_agent")  # stands where the agent's module is
    agent.gc_buffer = []  # type: ignore[attr-defined]
    sys.modules["_memhound_agent"] = agent
    kept: list[Ticket] = []
    taken: dict[str, dict[str, str]] = {"a": {}, "b": {}, "c": {}}
    memhound.snapshot(tmp_path / "warm-up")  # the writer's lazy imports are not growth
    os.unlink(tmp_path / "warm-up")
    try:
        for subject, grows in (("pid 1", False), ("pid 2", True)):
            for label in ("a", "b", "c"):
                if label == "b":  # new in b and still alive in c: what the method finds
                    events = ([float(i) + 0.5] for i in range(5000))
                    agent.gc_buffer.extend(events)  # type: ignore[attr-defined]
                    if grows:
                        kept.extend(Ticket() for _ in range(3000))
                path = tmp_path / f"soak-{label}-{subject[4:]}.heapsnapshot"
                memhound.snapshot(path)
                taken[label][subject] = str(path)
        snaps, growing, notes = _growing_of(taken, set())
    finally:
        del sys.modules["_memhound_agent"]
    assert growing[0].class_name.endswith("test_soak.Ticket") and growing[0].count == 3000
    assert not any("_memhound_agent" in g.path or g.class_name == "float" for g in growing)
    assert snaps == {k: str(tmp_path / f"soak-{k}.heapsnapshot") for k in "abc"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"soak-{k}.heapsnapshot" for k in "abc"]
    assert notes and notes[0].startswith("heap snapshots of pid 2: of the 2 processes")


FAILING_APPS = """
import asyncio


def wsgi_500(environ, start_response):
    start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
    return [b"boom"]


def wsgi_404_on_missing(environ, start_response):
    found = environ["PATH_INFO"] == "/ok"
    start_response("200 OK" if found else "404 Not Found", [("Content-Type", "text/plain")])
    return [b"page"]


async def asgi_500(scope, receive, send):
    if scope["type"] != "http":
        raise RuntimeError("no lifespan")
    await receive()
    await asyncio.sleep(0)
    await send({"type": "http.response.start", "status": 500, "headers": []})
    await send({"type": "http.response.body", "body": b"boom"})
"""


@pytest.mark.parametrize(
    ("target", "extra"),
    [
        (["--wsgi", "failing_apps:wsgi_500"], []),
        (["--wsgi", "failing_apps:wsgi_500"], ["-c", "2"]),  # the worker threads count too
        (["--asgi", "failing_apps:asgi_500"], ["-c", "4"]),  # and the event loop's batches
    ],
)
def test_an_app_answering_500_is_inconclusive_and_fails_the_soak(
    target: list[str], extra: list[str], tmp_path: Path
) -> None:
    (tmp_path / "failing_apps.py").write_text(FAILING_APPS)
    res = mh(
        "soak", *target, *extra, "-n", "300", "--fail-on-leak", "--json", "-o", "r", cwd=tmp_path
    )
    assert res.returncode == 3, res.stderr  # not 0 ("no leak"), not 1 (a leak)
    doc = json.loads(res.stdout)
    assert doc["leak"] is None and doc["errors"] == 300 and doc["requests"] == 300
    assert doc["inconclusive"].startswith("300 of 300 requests failed (100%), more than the 5%")
    assert "most often HTTP 500 on / (300 times)" in doc["inconclusive"]
    assert json.loads((tmp_path / "r" / "soak.json").read_text())["leak"] is None
    # the text report says why, first, and never "no leak"
    again = mh("report", str(tmp_path / "r"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1].startswith("  verdict: INCONCLUSIVE: 300 of 300")
    assert "no leak" not in again.stdout


def test_404s_are_errors_per_endpoint_and_max_errors_decides(tmp_path: Path) -> None:
    (tmp_path / "failing_apps.py").write_text(FAILING_APPS)
    target = ("--wsgi", "failing_apps:wsgi_404_on_missing", "--no-snapshots")
    res = mh(
        "soak", *target, "--path", "/ok", "--path", "/missing", "-n", "400", "--json", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr  # without --fail-on-leak: the verdict is in the JSON
    doc = json.loads(res.stdout)
    assert doc["errors"] == 200 and doc["leak"] is None
    assert "HTTP 404 on /missing" in doc["inconclusive"]
    ends = {e["endpoint"]: e for e in doc["per_endpoint"]}
    assert ends["/ok"]["errors"] == 0 and ends["/ok"]["leak"] is False
    assert ends["/ok"]["inconclusive"] is None
    assert ends["/missing"]["errors"] == ends["/missing"]["requests"] == 300
    assert ends["/missing"]["leak"] is None
    assert ends["/missing"]["inconclusive"].startswith("300 of 300 requests failed")
    # errors within --max-errors: judged
    res = mh(
        "soak",
        *target,
        "--path",
        "/missing",
        "-n",
        "100",
        "--max-errors",
        "100%",
        "--fail-on-leak",
        "--json",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["leak"] is False and doc["inconclusive"] is None and doc["max_errors"] == 1.0
    res = mh("soak", *target, "--max-errors", "5", cwd=tmp_path)
    assert res.returncode == 2 and "takes a percentage" in res.stderr, res.stderr


def test_too_few_samples_after_the_warmup_is_inconclusive(tmp_path: Path) -> None:
    res = mh(
        "soak",
        "--call",
        f"{ZOO}:audit_step",
        "-n",
        "20",
        "--warmup",
        "18",
        "--no-snapshots",
        "--fail-on-leak",
        "--json",
        "-o",
        str(tmp_path / "r"),
        cwd=ROOT,
    )
    assert res.returncode == 3, res.stderr
    doc = json.loads(res.stdout)
    assert doc["leak"] is None
    assert doc["inconclusive"].startswith(
        "only 2 samples after the 18 warm-up requests, and the trend test needs at least 6"
    )


TOKEN_APP = """
TOKEN = "".join(["s3cr3t", "-value-", str(6 * 7)])  # made at run time
KEEP = []


class Session:
    def __init__(self, n):
        self.token = TOKEN + str(n)


def app(environ, start_response):
    KEEP.append(Session(len(KEEP)))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


if __name__ == "__main__":
    import sys
    from wsgiref.simple_server import make_server

    make_server("127.0.0.1", int(sys.argv[1]), app).serve_forever()
"""


def _files_with(run: Path, text: bytes) -> list[str]:
    return sorted(
        str(f.relative_to(run)) for f in run.rglob("*") if f.is_file() and text in f.read_bytes()
    )


@pytest.mark.parametrize("redact", [True, False])
def test_soak_snapshots_can_be_redacted(tmp_path: Path, redact: bool) -> None:
    # a soak's snapshots, its report and soak.json held every string of the app in full
    (tmp_path / "tokapp.py").write_text(TOKEN_APP)
    flags = ["--redact-strings"] if redact else []
    res = mh(
        "soak", "--json", "--wsgi", "tokapp:app", "-n", "300", "-o", str(tmp_path / "r"), *flags,
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["leak"] is True and doc["growing"][0]["class_name"] == "tokapp.Session"
    found = _files_with(tmp_path / "r", b"s3cr3t-value-42")
    if redact:
        assert found == [] and "s3cr3t" not in res.stdout
    else:
        assert "snapshots/soak-c.heapsnapshot" in found


def test_served_soak_snapshots_can_be_redacted(tmp_path: Path) -> None:
    from tests.servers import free_port

    (tmp_path / "tokapp.py").write_text(TOKEN_APP)
    port = free_port()
    res = mh(
        "soak", "--json", "--url", f"http://127.0.0.1:{port}/", "-n", "300", "--redact-strings",
        "--serve", f"{sys.executable} tokapp.py {port}", "-o", str(tmp_path / "r"),
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert list((tmp_path / "r" / "snapshots").glob("*.heapsnapshot"))
    assert _files_with(tmp_path / "r", b"s3cr3t-value-42") == []
    refused = mh("soak", "--wsgi", "tokapp:app", "--no-snapshots", "--redact-strings", cwd=tmp_path)
    assert refused.returncode == 2 and "--no-snapshots" in refused.stderr
