"""The server side of ``memhound soak --url``: a server memhound starts (``--serve CMD``) or
one already running (``--pid PID``, else the one listening on the URL's port), the meter that
measures its whole process tree, and ``soak_server`` that finds both and the URLs and soaks.

A server started by memhound runs memhound's agent (the ``sitecustomize`` on PYTHONPATH, as
under ``memhound run``) with tracemalloc on: when the load pauses for a measurement, each of
its Python processes is sent a real-time signal, collects garbage and reports its traced heap,
so the verdict judges the same figure as in-process. A server memhound did not start is
measured from outside: RSS of the tree (plus fds, sockets, threads), a coarser figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, TypeVar

from memhound._fsutil import atomic_write
from memhound._platform import die_with_parent
from memhound.agent import contract
from memhound.agent.channel import (
    AgentChannel,
    Measured,
    Message,
    ResourcesAnswer,
    agent_fd,
    decode,
    since,
)
from memhound.errors import CommandNotFound, MemhoundError, ProcessNotFound, UsageError
from memhound.load.http import (
    HttpDriver,
    Origin,
    discover_links,
    parse_origin,
    sitemap_urls,
    wait_for_port,
)
from memhound.model.timeline import AgentInfo, SnapshotTaken
from memhound.model.verdict import LeftOpen, ResourceLimit, SoakResult
from memhound.probes import process as proc
from memhound.probes.limits import resource_limits
from memhound.watchers.tree import ResourceSampler
from memhound.workflows.soak.engine import (
    DEEP_FRAMES,
    Progress,
    Reading,
    SoakOptions,
    SoakPlan,
    given_limits,
    left_open_of,
    soak,
)

#: Real-time signals have no meaning to common servers (gunicorn, uvicorn, celery use the
#: classic ones), so they are safe to borrow for memhound's agent.
MEASURE_SIGNAL = int(signal.SIGRTMIN) + 6
SNAPSHOT_SIGNAL = int(signal.SIGRTMIN) + 7
#: Questions about open resources (what to do is in the request file beside the agent socket).
RESOURCES_SIGNAL = int(signal.SIGRTMIN) + 8
#: How long an agent may take to list its open resources (a walk of gc.get_objects()).
RESOURCES_TIMEOUT_S = 30.0
#: How long the soak waits for every process of a server's tree to say hello before it starts
#: (a process that is not Python never does).
HELLO_WAIT_S = 2.0
#: How long a measurement may take (a full collection of a big heap) before it is skipped.
MEASURE_TIMEOUT_S = 10.0
SNAPSHOT_TIMEOUT_S = 300.0
#: Processes of a server snapshotted at most (the workers whose heaps grew most).
SNAPSHOT_PROCESSES = 4

_Answer = TypeVar("_Answer", Measured, SnapshotTaken)


class Server:
    """A server process tree: ``pids()``, ``alive()``, why it ended, and (when memhound
    started it) the agent channel of its Python processes."""

    def __init__(
        self,
        root: int,
        *,
        popen: subprocess.Popen[bytes] | None = None,
        channel: AgentChannel | None = None,
        log: Path | None = None,
    ) -> None:
        self.root = root
        self.popen = popen
        self.channel = channel
        self.log = log
        self.agents: dict[int, AgentInfo] = {}  # pid -> its hello
        self.agent_fds: dict[int, int] = {}  # pid -> its agent's socket, left out of its fds
        self._request_id = 0
        self._rel = since(time.time())

    # -- starting and attaching ---------------------------------------------------------------
    @classmethod
    def start(
        cls,
        command: str,
        *,
        log: Path,
        snapshot_dir: Path | None,
        trace_python: bool = True,
        redact: bool = False,
    ) -> Server:
        from memhound.agent import BOOT_DIR

        argv = shlex.split(command)
        if not argv:
            raise UsageError("--serve needs a command", hint='e.g. --serve "gunicorn app:app"')
        from memhound.workflows.run import resolve_command

        resolve_command(argv)
        channel = AgentChannel()
        env = dict(os.environ)
        env.update(channel.child_env(trace_python=trace_python, interval_s=3600.0, gc_keep=0))
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(BOOT_DIR), os.environ.get("PYTHONPATH", "")) if p
        )
        env[contract.ENV_MEASURE_SIGNAL] = contract.signal_value(MEASURE_SIGNAL)
        env[contract.ENV_RESOURCES_SIGNAL] = contract.signal_value(RESOURCES_SIGNAL)
        env[contract.ENV_RESOURCES_REQUEST] = _request_file(channel)
        env["PYTHONUNBUFFERED"] = "1"
        if snapshot_dir is not None:
            env[contract.ENV_SNAPSHOT_DIR] = str(snapshot_dir)
            env[contract.ENV_SNAPSHOT_SIGNAL] = contract.signal_value(SNAPSHOT_SIGNAL)
            if redact:
                env[contract.ENV_SNAPSHOT_REDACT] = "1"
        out: IO[bytes] = open(log, "wb")  # noqa: SIM115  (the child holds it)
        try:
            popen = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),  # not left serving if we are killed
            )
        except OSError as exc:
            channel.close()
            raise CommandNotFound(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
        finally:
            out.close()
        os.chmod(log, 0o600)
        return cls(popen.pid, popen=popen, channel=channel, log=log)

    @classmethod
    def attach(cls, pid: int) -> Server:
        try:
            proc.read_status(pid)
        except ProcessNotFound as exc:
            raise ProcessNotFound(
                f"no process {pid}", hint="give the pid of the running server (or use --serve)"
            ) from exc
        return cls(pid)

    # -- state --------------------------------------------------------------------------------
    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        try:
            return not proc.read_status(self.root).is_exiting
        except MemhoundError:
            return False

    def pids(self) -> list[int]:
        try:
            return proc.tree(self.root)
        except MemhoundError:
            return []

    def exit_description(self) -> str | None:
        if self.alive():
            return None
        if self.popen is not None:
            code = self.popen.returncode
            if code >= 0:
                how = f"exited with status {code}"
            elif -code in (MEASURE_SIGNAL, SNAPSHOT_SIGNAL):
                # Its agent ignores them once the program ends; a death by one means it was
                # already ending on its own (or ran an agent of an older memhound).
                how = (
                    f"ended on its own (memhound's signal {-code}, a measurement or snapshot "
                    "request, reached it as it shut down: its own exit status is lost)"
                )
            else:
                how = f"was killed by {_signal_name(-code)}"
            return f"the server {how}" + self.log_tail()
        return f"the server (pid {self.root}) is gone"

    def log_tail(self, lines: int = 8) -> str:
        if self.log is None:
            return ""
        try:
            text = self.log.read_bytes()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""
        tail = [ln for ln in text.splitlines() if ln.strip()][-lines:]
        return ("; its last output:\n    " + "\n    ".join(tail)) if tail else ""

    def drain(self) -> list[Message]:
        if self.channel is None:
            return []
        got: list[Message] = []
        for msg in self.channel.drain():
            records = decode(msg, self._rel)
            for r in records:
                if isinstance(r, AgentInfo):
                    self.agents[r.pid] = r
            named = agent_fd(msg)  # in a hello, or a new agent socket's first message
            if named is not None and named[0] in self.agents:
                self.agent_fds[named[0]] = named[1]
            got.extend(records)
        return got

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM to the server's process group, SIGKILL after ``grace_s``."""
        if self.popen is not None:
            if self.popen.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(self.popen.pid, signal.SIGTERM)
                try:
                    self.popen.wait(grace_s)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(OSError):
                        os.killpg(self.popen.pid, signal.SIGKILL)
                    self.popen.wait(grace_s)
            with contextlib.suppress(OSError):
                os.killpg(self.popen.pid, signal.SIGKILL)  # stragglers of the group
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def signal_agents(self, signum: int, only: set[int] | None = None) -> list[int]:
        """Send ``signum`` to each process of the tree (of ``only`` among them, when given)
        whose agent said it listens for it."""
        self.drain()
        tree = set(self.pids())
        sent = []
        for pid, hello in self.agents.items():
            listens = {
                MEASURE_SIGNAL: hello.measure_signal,
                RESOURCES_SIGNAL: hello.resources_signal,
            }
            wanted = only is None or pid in only
            if pid in tree and wanted and listens.get(signum, signum) == signum:
                try:
                    os.kill(pid, signum)
                    sent.append(pid)
                except OSError:
                    continue
        return sent

    def ask_resources(
        self, action: str, only: set[int] | None = None, *, keep: bool = False
    ) -> dict[int, list[ResourcesAnswer]]:
        """Ask the agents of the tree (of ``only``, when given) that take questions about
        resources to ``action`` ("mark", "deep", "shallow", "report": see the agent's
        ``answer_resources``); returns the batches of each one that answered in full, within
        ``RESOURCES_TIMEOUT_S``. One request at a time: the next waits for this one."""
        if self.channel is None:
            return {}
        self._request_id += 1
        rid = self._request_id
        request = {"id": rid, "do": action, "frames": DEEP_FRAMES, "keep": keep}
        atomic_write(Path(_request_file(self.channel)), json.dumps(request))
        asked = set(self.signal_agents(RESOURCES_SIGNAL, only))
        got: dict[int, list[ResourcesAnswer]] = {}
        done: set[int] = set()
        deadline = time.monotonic() + RESOURCES_TIMEOUT_S
        while len(done) < len(asked) and time.monotonic() < deadline:
            for m in self.drain():
                if isinstance(m, ResourcesAnswer) and m.request_id == rid and m.pid in asked:
                    got.setdefault(m.pid, []).append(m)
                    if m.last:
                        done.add(m.pid)
            if len(done) < len(asked):
                if not self.alive():
                    break
                time.sleep(0.002)
        return {pid: got[pid] for pid in done}

    def wait_for(
        self, kind: type[_Answer], pids: list[int], timeout_s: float
    ) -> dict[int, _Answer]:
        """The first answer of ``kind`` from each of ``pids`` (as many as came within the
        time); a snapshot that failed is an answer too (its ``error`` set)."""
        got: dict[int, _Answer] = {}
        deadline = time.monotonic() + timeout_s
        while len(got) < len(pids) and time.monotonic() < deadline:
            for m in self.drain():
                if isinstance(m, kind) and m.pid in pids and m.pid not in got:
                    got[m.pid] = m
            if len(got) < len(pids):
                if not self.alive():
                    break
                time.sleep(0.002)
        return got


def _request_file(channel: AgentChannel) -> str:
    """Where memhound writes its question before the resources signal (the agent reads it):
    in the channel's private folder."""
    return os.path.join(channel.dir, "resources-request.json")


def _signal_name(signum: int) -> str:
    try:
        return f"{signal.Signals(signum).name} (signal {signum})"
    except ValueError:
        return f"signal {signum}"


class ServerMeter:
    """Measures a server's tree with the load paused: the agents' traced heaps after a full
    collection when they run memhound's agent with tracing, else the tree's RSS."""

    def __init__(self, server: Server, resources: ResourceSampler, *, wait_agent_s: float = 15.0):
        self.server = server
        self.resources = resources
        self.primary = "rss"
        self.notes: list[str] = []
        # each agent process's heap at its first and latest reading: the snapshots are taken
        # of the one that grew most (a gunicorn worker, not its master)
        self.first_traced: dict[int, int] = {}
        self.last_traced: dict[int, int] = {}
        self._snap_pids: list[int] | None = None  # chosen at the first snapshot
        # growth before the traced heaps restarted (tracemalloc restarts to change its
        # frames: its figure starts again from 0), kept so that "grew most" spans the soak
        self._carried: dict[int, int] = {}
        self._marked: set[int] = set()  # agents that remember what was open at the start
        if server.channel is not None:
            # The agent says hello once its interpreter is up: wait for it (bounded), so the
            # first reading already has the heap figure.
            deadline = time.monotonic() + wait_agent_s
            while time.monotonic() < deadline and server.alive():
                server.drain()
                if any(h.trace_python for h in server.agents.values()):
                    self.primary = "python-heap"
                    break
                time.sleep(0.02)
            else:
                self.notes.append(
                    "the server did not start memhound's agent (not a Python program, or it "
                    "clears PYTHONPATH): judged on RSS"
                )

    def begin(self) -> None:
        pass

    def end(self) -> None:
        pass

    def measure(self, t: float) -> Reading | None:
        if not self.server.alive():
            return None
        pids = self.server.pids()
        if not pids:
            return None
        heap = 0
        self._mark()  # workers started since (a pre-fork server's, or one it replaced)
        if self.primary == "python-heap":
            asked = self.server.signal_agents(MEASURE_SIGNAL)
            got = self.server.wait_for(Measured, asked, MEASURE_TIMEOUT_S)
            if not self.server.alive():
                return None
            heap = sum(m.traced_bytes or 0 for m in got.values())
            for pid, m in got.items():
                traced = m.traced_bytes or 0
                self.first_traced.setdefault(pid, traced)
                self.last_traced[pid] = traced
        rss = 0
        for pid in pids:
            with contextlib.suppress(MemhoundError):
                rss += proc.read_status(pid).rss_bytes
        rs = self.resources.sample(t, pids, skip_fds=dict(self.server.agent_fds))
        extra = {k: v for k, v in rs.totals.items() if k not in ("fds", "threads")}
        primary = heap if self.primary == "python-heap" else rss
        return Reading(
            primary, rss, rs.totals.get("fds", 0), rs.totals.get("threads", 0), extra, rs.errors
        )

    def open_ids(self) -> set[int]:
        """Each agent remembers what its process holds open now (the ids stay there: a
        worker forked later inherits its parent's mark)."""
        if self.server.channel is not None:
            # The workers a pre-fork server has already started say hello a moment after
            # their master: marked later, their first requests' resources would be "before".
            deadline = time.monotonic() + HELLO_WAIT_S
            while time.monotonic() < deadline and self.server.alive():
                self.server.drain()
                if not set(self.server.pids()) - set(self.server.agents):
                    break
                time.sleep(0.02)
        self._mark(keep=False)
        return set()

    def _mark(self, *, keep: bool = True) -> None:
        """Agents not marked yet remember what is open now; with ``keep``, one that inherited
        its parent's mark (a worker forked since) keeps it."""
        if self.server.channel is None:
            return
        self.server.drain()
        new = {p for p, h in self.server.agents.items() if h.resources_signal} - self._marked
        if new:
            self._marked |= set(self.server.ask_resources("mark", new, keep=keep))

    def left_open(self, before: set[int]) -> tuple[LeftOpen, ...]:
        """What the server's processes opened since they were marked and still hold, as
        their agents group it (summed over the processes), with the line that created it."""
        groups: list[dict[str, object]] = []
        for pid, batches in self.server.ask_resources("report").items():
            for b in batches:
                if b.error is not None:
                    self.notes.append(f"open resources of pid {pid} not listed: {b.error}")
                groups.extend(
                    {"kind": k, "what": w, "count": n, "stack": s} for k, w, n, s in b.groups
                )
        return left_open_of(groups)

    @contextlib.contextmanager
    def deep_stacks(self) -> Iterator[None]:
        """The agents' tracemalloc records ``DEEP_FRAMES`` frames within (each restarts it:
        its traced heap starts again from 0, hence the growth carried over)."""
        if self.server.channel is None:
            yield
            return
        self._carry()
        self.server.ask_resources("deep")
        try:
            yield
        finally:
            self.server.ask_resources("shallow")
            self._carry()

    def _carry(self) -> None:
        for pid, last in self.last_traced.items():
            self._carried[pid] = self._carried.get(pid, 0) + last - self.first_traced[pid]
        self.first_traced.clear()
        self.last_traced.clear()

    def snapshot_prepare(self) -> set[str]:
        # A first snapshot, thrown away: the writer's imports (numpy) and what they build
        # lazily on first use would otherwise be new objects between the three that count.
        if self.primary == "python-heap":
            with tempfile.TemporaryDirectory(prefix="memhound-") as tmp:
                self.snapshot(Path(tmp), "warm-up")
        return set()

    def snapshot_new_modules(self, before: set[str]) -> set[str]:
        return set()

    def snapshot(self, directory: Path, label: str) -> dict[str, str]:
        """Heap snapshots of the agent processes whose heaps grew most (at most
        ``SNAPSHOT_PROCESSES``, the same ones for the three snapshots so that objects can be
        matched across them), taken together. A pre-fork server's master serves no request
        and is left out while it has workers."""
        if self.primary != "python-heap":
            return {}
        pids = self._snap_pids
        if pids is None:
            alive = set(self.server.pids())
            grown = {
                p: self._carried.get(p, 0)
                + (self.last_traced[p] - self.first_traced[p] if p in self.last_traced else 0)
                for p in {*self.last_traced, *self._carried}
                if p in alive
            }
            parents = {self._ppid(p) for p in grown}
            workers = {p: g for p, g in grown.items() if p not in parents} or grown
            pids = sorted(workers, key=lambda p: workers[p], reverse=True)[:SNAPSHOT_PROCESSES]
            self._snap_pids = pids
        asked = []
        for pid in pids:
            try:
                os.kill(pid, SNAPSHOT_SIGNAL)
                asked.append(pid)
            except OSError:
                self.notes.append(f"heap snapshot {label} of pid {pid} not taken: it is gone")
        got = self.server.wait_for(SnapshotTaken, asked, SNAPSHOT_TIMEOUT_S)
        out: dict[str, str] = {}
        for pid in asked:
            taken = got.get(pid)
            if taken is None or taken.error is not None or taken.path is None:
                error = (taken.error if taken is not None else None) or "no answer"
                self.notes.append(f"heap snapshot {label} of pid {pid} not taken: {error}")
                continue
            path = Path(str(taken.path))
            final = directory / f"soak-{label}-{pid}.heapsnapshot"
            try:
                os.replace(path, final)
            except OSError:
                final = path
            out[f"pid {pid}"] = str(final)
        return out

    def gone(self) -> str | None:
        return self.server.exit_description()

    def limits(self, given: Mapping[str, int]) -> dict[str, ResourceLimit]:
        pids = self.server.pids() or [self.server.root]
        limits = resource_limits(pids)
        limits.update(self.resources.server_limits(pids))
        limits.update(given_limits(given))
        return limits

    @staticmethod
    def _ppid(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                return int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return 0


def soak_server(
    plan: SoakPlan,
    options: SoakOptions,
    run_dir: Path,
    *,
    say: Callable[[str], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> SoakResult:
    """``run_soak`` for ``--url``: the server found (or started), its URLs found, the soak
    judged on its tree; a server memhound started is stopped at the end."""
    say = say or (lambda _text: None)
    driver, server = connect(
        plan, run_dir, options.snapshots_dir, say, redact=options.redact_strings
    )
    try:
        meter = ServerMeter(server, ResourceSampler(postgres=options.postgres, redis=options.redis))
        for note in meter.notes:
            say(note)
        judged = "its Python heap" if meter.primary != "rss" else "RSS"
        say(
            f"{len(driver.endpoints)} URL(s) on {driver.origin.base}, server pid "
            f"{server.root}, judged on {judged}"
        )
        result = soak(driver, plan.target, options, on_progress=on_progress, meter=meter)
        result = replace(result, driver="http", server_pids=tuple(server.pids()))
        if meter.notes:
            result = replace(result, errors_watching=(*result.errors_watching, *meter.notes))
        return result
    finally:
        driver.close()
        server.stop()


def connect(
    plan: SoakPlan,
    run_dir: Path,
    snapshot_dir: Path | None,
    say: Callable[[str], None],
    *,
    redact: bool = False,
) -> tuple[HttpDriver, Server]:
    """The HTTP driver (its URLs found) and the server (started, or attached to) of a soak
    over HTTP; a server started here is stopped again when this fails."""
    http = plan.http
    origin = parse_origin(plan.target, allow_remote=http.allow_remote)
    for p in plan.paths:
        if p.startswith(("http://", "https://")) and parse_origin(p, allow_remote=True) != origin:
            raise UsageError(
                f"{p} is not on {origin.base}", hint="a soak loads one server: same origin only"
            )
    if (
        http.sitemap
        and http.sitemap.startswith(("http://", "https://"))
        and parse_origin(http.sitemap, allow_remote=True) != origin
    ):
        raise UsageError(f"the sitemap {http.sitemap} is not on {origin.base}")
    server = None
    if http.serve:
        if _answers(origin):
            # The server would fail to bind, and memhound would load the one already there
            # while measuring the one it started.
            raise UsageError(
                f"something already listens on {origin.base}{_describe(listeners(origin))}",
                hint="stop it, or give --serve and --url a port that is free",
            )
        server = Server.start(
            http.serve, log=run_dir / "server.log", snapshot_dir=snapshot_dir, redact=redact
        )
        say(f"started the server (pid {server.root}), waiting for {origin.base}")
        if not wait_for_port(origin, http.serve_timeout_s, server.alive):
            why = server.exit_description() or (
                f"it did not listen on {origin.base} within {http.serve_timeout_s:g}s"
            )
            server.stop()
            raise UsageError(
                f"the server did not come up: {why}",
                hint="check the command and that it listens on the --url's host and port",
            )
        try:
            _check_listener(server, origin)
        except UsageError:
            server.stop()
            raise
    elif http.pid:
        server = Server.attach(http.pid)
    try:
        if not wait_for_port(origin, 5.0 if http.serve else 0.5):
            raise UsageError(
                f"nothing listens on {origin.base}",
                hint="start the server first, or let memhound start it with --serve CMD",
            )
        if server is None:
            pid = find_listener(origin.port)
            if pid is None:
                raise UsageError(
                    f"cannot tell which process serves {origin.base}",
                    hint="give its pid with --pid PID, or start it with --serve CMD",
                )
            server = Server.attach(pid)
            say(f"found the server: pid {pid}")
        return _driver(plan, origin, say), server
    except BaseException:
        if server is not None and http.serve:
            server.stop()
        raise


def _driver(plan: SoakPlan, origin: Origin, say: Callable[[str], None]) -> HttpDriver:
    """The driver of the paths given, else of the sitemap's URLs or of the links found."""
    http = plan.http
    driver = HttpDriver(origin, plan.paths, timeout_s=http.timeout_s)
    if http.sitemap:
        urls = sitemap_urls(driver, http.sitemap, max_urls=http.max_urls)
    elif not plan.paths:
        urls = discover_links(driver, plan.target, max_urls=http.max_urls)
        say(f"found {len(urls)} URL(s) by following links from {plan.target}")
    else:
        urls = list(plan.paths[: http.max_urls])
    return HttpDriver(origin, tuple(urls), timeout_s=http.timeout_s)


def find_listener(port: int) -> int | None:
    """The process listening on this machine's TCP ``port`` (one we may read), or None."""
    import psutil

    try:
        conns = psutil.net_connections("tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            return int(c.pid)
    return None


def listeners(origin: Origin) -> list[int | None] | None:
    """The processes listening where ``origin``'s connections go (its port, on one of its
    host's addresses or on every address), each listed once; None for a process whose
    sockets we may not read. None when this machine's sockets cannot be listed."""
    import ipaddress
    import socket

    import psutil

    try:
        conns = psutil.net_connections("tcp")
        infos = socket.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
    except (psutil.AccessDenied, OSError):
        return None
    hosts = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    found: list[int | None] = []
    for c in conns:
        if c.status != psutil.CONN_LISTEN or not c.laddr or c.laddr.port != origin.port:
            continue
        ip = ipaddress.ip_address(c.laddr.ip.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if (ip.is_unspecified or ip in hosts) and c.pid not in found:
            found.append(c.pid)
    return found


def _answers(origin: Origin) -> bool:
    import socket

    try:
        with socket.create_connection((origin.host, origin.port), timeout=1.0):
            return True
    except OSError:
        return False


def _describe(pids: list[int | None] | None) -> str:
    """' (pid 123: gunicorn)' for the listeners found, '' when none could be named."""
    named = []
    for pid in pids or []:
        if pid is None:
            named.append("a process memhound may not inspect")
            continue
        try:
            name = proc.read_status(pid).name
        except MemhoundError:
            name = "?"
        named.append(f"pid {pid}: {name}")
    return f" ({', '.join(named)})" if named else ""


def _check_listener(server: Server, origin: Origin) -> None:
    """Refuses a soak whose URL is answered by a process outside the tree ``--serve``
    started: memhound would load one server and measure another (the started one failed to
    bind, or listens elsewhere)."""
    found = listeners(origin)
    if found is None:
        return  # sockets not listable here: the port answered, which is all we can tell
    tree = set(server.pids())
    strangers = [pid for pid in found if pid not in tree]
    if strangers or not found:
        who = _describe(strangers) if strangers else " (no process of this machine listens there)"
        raise UsageError(
            f"{origin.base} is answered by a process the --serve command did not start{who}"
            + server.log_tail(4),
            hint=f"stop that process, and make the --serve command listen on {origin.base}",
        )
