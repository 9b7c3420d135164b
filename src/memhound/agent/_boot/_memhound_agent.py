"""memhound's in-process agent: runs inside the observed Python program.

Loaded by the ``sitecustomize`` beside it when ``memhound run`` starts a Python child, or by
``memhound.agent.start()``. Standard library only, so it works in any interpreter the user's
command runs, with or without memhound installed there.

It reports to memhound over a Unix datagram socket (path in MEMHOUND_AGENT_SOCKET): gc
collections (batched), checkpoints, and with MEMHOUND_TRACE_PYTHON=1 the traced Python heap.
Sends never raise and never block for long: the kernel keeps only a few datagrams queued for
memhound (net.unix.max_dgram_qlen, 10 by default), so a send that finds the queue full waits
for room (memhound reads continuously, so that is a moment), up to _SEND_WAIT_S. When memhound
is gone, or has not made room in that time (then later sends do not wait until one goes
through), messages are dropped and counted.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import socket
import sys
import threading
import time

ENV_SOCKET = "MEMHOUND_AGENT_SOCKET"
ENV_TRACE = "MEMHOUND_TRACE_PYTHON"
ENV_INTERVAL = "MEMHOUND_AGENT_INTERVAL"
ENV_GC_KEEP = "MEMHOUND_GC_KEEP"
# Settings `memhound tune` tries (each applied only when set):
ENV_GC_THRESHOLD = "MEMHOUND_GC_THRESHOLD"  # "700,10,10": gc.set_threshold at start
ENV_GC_FREEZE = "MEMHOUND_GC_FREEZE"  # "1": gc.freeze() at the first iteration()
ENV_GC_COLLECT_EVERY = "MEMHOUND_GC_COLLECT_EVERY"  # "N": gc.collect() every N iterations
# "1": malloc_trim(0) after each full collection, at memhound.iteration() (at most once a
# second) and at exit before the last RSS reading
ENV_MALLOC_TRIM = "MEMHOUND_MALLOC_TRIM"
# "1": trace allocations (tracemalloc, 25 frames) so that resources still open at exit are
# reported with the stack that created them.
ENV_RESOURCE_STACKS = "MEMHOUND_RESOURCE_STACKS"
# Heap snapshot triggers (memhound run --snapshot-*): where they go, and when.
ENV_SNAPSHOT_DIR = "MEMHOUND_SNAPSHOT_DIR"
ENV_SNAPSHOT_SIGNAL = "MEMHOUND_SNAPSHOT_SIGNAL"  # "12" (or "SIGUSR2"): a snapshot per signal
ENV_SNAPSHOT_EVERY = "MEMHOUND_SNAPSHOT_EVERY"  # seconds between snapshots
ENV_SNAPSHOT_ABOVE = "MEMHOUND_SNAPSHOT_ABOVE"  # RSS bytes: one snapshot when crossed
ENV_SNAPSHOT_AT_EXIT = "MEMHOUND_SNAPSHOT_AT_EXIT"  # "1": at exit and on SIGTERM
ENV_SNAPSHOT_REDACT = "MEMHOUND_SNAPSHOT_REDACT"  # "1": strings and bytes written as lengths
ENV_BOOT_DIR = "MEMHOUND_BOOT_DIR"
# "40" (a signal number or name): on this signal, collect garbage and send the traced heap,
# RSS, threads and fds at once ("measured"); memhound soak pauses its load and asks.
ENV_MEASURE_SIGNAL = "MEMHOUND_MEASURE_SIGNAL"
# "48" (a signal number): on this signal, read the request in the file named by
# MEMHOUND_RESOURCES_REQUEST ({"id": N, "do": "mark" | "deep" | "shallow" | "report"}) and
# answer "resources": memhound soak --serve asks where the sockets, files and threads its
# soak left open were created.
ENV_RESOURCES_SIGNAL = "MEMHOUND_RESOURCES_SIGNAL"
ENV_RESOURCES_REQUEST = "MEMHOUND_RESOURCES_REQUEST"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_FLUSH_EVENTS = 64
_FLUSH_SECONDS = 0.25
_MAX_DATAGRAM = 60_000
_SEND_WAIT_S = 2.0


class _Agent:
    def __init__(self, path: str, trace_python: bool, interval_s: float, gc_keep: int) -> None:
        self.path = path
        self.trace_python = trace_python
        self.interval_s = interval_s
        self.gc_keep = gc_keep
        self.pid = os.getpid()
        self.dropped = 0
        self.sock: socket.socket | None = None
        self.sock_id: tuple[int, int] | None = None  # (st_dev, st_ino) of our socket's fd
        self.announce_fd = False  # a new socket after the first: memhound must learn its fd
        self.congested = False  # a send waited _SEND_WAIT_S in vain: the next do not wait
        self.gc_buffer: list[list[Any]] = []
        self.gc_started = 0.0
        self.last_flush = time.monotonic()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        # In a forked child, the agent's threads start at its first collection, once every
        # fork hook has run: gevent's asserts that the child has a single thread.
        self.threads_pending = False
        self.stopping = threading.Event()
        self.iterations = 0
        self.iterations_sent_t = 0.0
        self.freeze = False
        self.collect_every = 0
        self.malloc_trim: Any = None
        self.trims = 0
        self.trimmed_t = 0.0
        self.snapshots = 0
        self.snapshot_lock = threading.Lock()
        self.snapshot_every = 0.0
        self.snapshot_above = 0
        self.snapshot_at_exit = False
        self.next_snapshot_t = 0.0
        self.measure_signal = 0
        self.snapshot_signal = 0
        self.resources_signal = 0
        self.resources_request = ""
        # ids of the resources open when memhound said "mark" (a worker forked since inherits
        # its parent's, and keeps them), and the frames to go back to after "deep"
        self.open_before: set[int] = set()
        self.marked = False
        self.shallow_frames = 0
        self.owns_tracing = False  # tracemalloc was started by this agent, not the program

    # -- transport -------------------------------------------------------------------------
    def _ours(self, sock: socket.socket) -> bool:
        try:
            st = os.fstat(sock.fileno())
        except (OSError, ValueError):
            return False
        return (st.st_dev, st.st_ino) == self.sock_id

    def _drop_socket(self) -> None:
        """Forget our socket. If the program closed its fd behind our back (a daemon's
        ``closerange``, celery's detach) the number may now be one of the program's own
        files: let go of it without closing it."""
        sock, self.sock = self.sock, None
        if sock is not None:
            if self._ours(sock):
                sock.close()
            else:
                sock.detach()

    def _socket(self) -> socket.socket:
        if self.sock is not None and not self._ours(self.sock):
            # Sending on a number the program now uses for, say, a TCP connection would
            # write memhound's messages into the program's own traffic.
            self._drop_socket()
            self.announce_fd = True
        if self.sock is None:
            import struct

            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            if s.fileno() < 3:
                # 0, 1 and 2 are the program's stdio even while closed: one started with
                # stdin closed must get EBADF from it, and a daemon that closed everything
                # expects its next open() to be fd 0.
                import fcntl

                high = fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 3)
                s.close()
                s = socket.socket(fileno=high)
            try:
                # A name in Linux's abstract namespace marks this socket as memhound's, so a
                # watcher that lists the program's fds leaves it out even before (or without)
                # reading the hello that names its fd. Must match watchers.fds.AGENT_SOCKET.
                s.bind(f"\0memhound-agent-{os.getpid()}-{os.urandom(4).hex()}")
            except OSError:
                pass
            timeout = struct.pack("ll", int(_SEND_WAIT_S), 0)  # struct timeval
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
            st = os.fstat(s.fileno())
            self.sock_id = (st.st_dev, st.st_ino)
            self.sock = s
        return self.sock

    def send(self, message: dict[str, Any]) -> bool:
        try:
            message.setdefault("pid", self.pid)
            sock = self._socket()
            announce = self.announce_fd
            if announce:
                message["agent_fd"] = sock.fileno()
            data = json.dumps(message, separators=(",", ":"), default=str).encode("utf-8")
            if len(data) > _MAX_DATAGRAM:
                return False
            # Blocking, up to SO_SNDTIMEO, while memhound's queue is full; at once once
            # memhound has failed to make room in time.
            flags = socket.MSG_DONTWAIT if self.congested else 0
            try:
                sock.sendto(data, flags, self.path)
            except BlockingIOError:
                self.congested = True
                raise
            self.congested = False
            if announce:
                self.announce_fd = False
            return True
        except Exception as exc:
            if _raised_by_program(exc):
                raise  # a signal handler that ran during sendto (EINTR): the program's
            self.dropped += 1
            return False

    # -- gc ----------------------------------------------------------------------------------
    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        try:
            if self.threads_pending and phase == "stop":
                self.threads_pending = False
                self.start_threads()
            if phase == "start":
                self.gc_started = time.perf_counter()
                return
            duration = time.perf_counter() - self.gc_started if self.gc_started else 0.0
            event = [
                time.time(),
                info.get("generation", -1),
                info.get("collected", 0),
                info.get("uncollectable", 0),
                duration,
            ]
            self.gc_buffer.append(event)
            if event[1] == 2:
                self.trim()
            if len(self.gc_buffer) >= _FLUSH_EVENTS or (
                time.monotonic() - self.last_flush >= _FLUSH_SECONDS
            ):
                self.flush()
        except Exception as exc:
            if _raised_by_program(exc):
                raise  # a signal handler's: see _install_unraisable_hook

    def flush(self) -> None:
        # gc callbacks run in whatever thread triggered the collection; never wait for
        # the lock there (the holder may be the very allocation that started the gc).
        if not self.lock.acquire(blocking=False):
            return
        try:
            events, self.gc_buffer = self.gc_buffer, []
            self.last_flush = time.monotonic()
            if events:
                self.send({"kind": "gc", "events": events})
        finally:
            self.lock.release()

    # -- traced heap -------------------------------------------------------------------------
    def send_traced(self) -> None:
        import tracemalloc

        if tracemalloc.is_tracing():
            current, peak = tracemalloc.get_traced_memory()
            self.send({"kind": "traced", "t": time.time(), "current": current, "peak": peak})

    def _loop(self) -> None:
        _block_signals()
        while not self.stopping.wait(self.interval_s):
            try:
                self.send_traced()
                self.flush()
            except Exception:
                pass

    def start_threads(self) -> None:
        if self.trace_python:
            t = threading.Thread(target=self._loop, name="memhound-agent", daemon=True)
            self.thread = t
            t.start()
        if self.snapshot_every or self.snapshot_above:
            threading.Thread(target=self._snapshot_loop, name="memhound-agent", daemon=True).start()

    # -- lifecycle ---------------------------------------------------------------------------
    def hello(self) -> None:
        self.send(
            {
                "kind": "hello",
                "t": time.time(),
                "ppid": os.getppid(),
                "python": sys.version.split()[0],
                "executable": sys.executable,
                "argv": list(sys.argv) if hasattr(sys, "argv") else [],
                "trace_python": self.trace_python,
                "measure_signal": self.measure_signal,
                "resources_signal": self.resources_signal,
                # this socket's fd, so the watcher leaves it out of the program's fds
                "agent_fd": self._socket().fileno(),
            }
        )

    def after_fork_in_child(self) -> None:
        try:
            self.pid = os.getpid()
            self.name_connections()
            self.gc_buffer = []
            self.lock = threading.Lock()
            # the parent's may have been held by its snapshot thread, which is not here
            self.snapshot_lock = threading.Lock()
            self.stopping = threading.Event()
            self._drop_socket()  # the parent's: this process gets its own
            self.announce_fd = False  # its hello names the new one
            self.hello()
            self.threads_pending = bool(
                self.trace_python or self.snapshot_every or self.snapshot_above
            )
        except Exception:
            pass

    def iteration(self) -> None:
        self.iterations += 1
        now = time.monotonic()
        if now - self.iterations_sent_t >= 0.2:  # the count, at most 5 times a second
            self.iterations_sent_t = now
            self.send({"kind": "iterations", "t": time.time(), "n": self.iterations})
        if self.freeze and self.iterations == 1:
            gc.freeze()
        if self.collect_every and self.iterations % self.collect_every == 0:
            gc.collect()
        if self.malloc_trim is not None and now - self.trimmed_t >= 1.0:
            self.trim()  # a loop's unit of work is done: what it freed can go back

    def trim(self) -> None:
        """malloc_trim(0) when memhound tune asked for it: glibc gives the free pages inside
        its heaps back to the kernel (a gen2 collection alone may never come: a job that
        frees buffers and strings makes none)."""
        if self.malloc_trim is None:
            return
        self.trimmed_t = time.monotonic()
        self.malloc_trim(0)
        self.trims += 1

    # -- heap snapshots ----------------------------------------------------------------------
    def snapshot(self, reason: str, *, wait_s: float = 0.0, exiting: bool = False) -> bool:
        """Write a heap snapshot with memhound's writer (memhound and numpy must be importable
        here: the boot folder's package is appended to sys.path). One at a time: a trigger
        that fires during another snapshot is skipped, unless it may ``wait_s`` (at exit, so
        the interval snapshot under way is finished first). True when it was written (or its
        failure reported), False when skipped. Never raises."""
        directory = os.environ.get(ENV_SNAPSHOT_DIR)
        if not directory:
            return False
        lock = self.snapshot_lock
        acquired = lock.acquire(timeout=wait_s) if wait_s else lock.acquire(blocking=False)
        if not acquired:
            return False
        if not exiting and self.stopping.is_set():
            # The program is ending and at_exit has already waited for the snapshot under
            # way: one started now would be cut off by the shutdown and leave a .tmp.
            lock.release()
            return False
        if reason == "threshold":
            # Under the lock, so that at_exit, which takes a threshold not yet taken, and
            # the snapshot thread cannot both take it.
            self.snapshot_above = 0
        try:
            snapshot = _snapshot_writer()
            self.snapshots += 1
            path = os.path.join(directory, f"{os.getpid()}-{self.snapshots}-{reason}.heapsnapshot")
            info = snapshot(path, redact_strings=os.environ.get(ENV_SNAPSHOT_REDACT) == "1")
            self.send(
                {
                    "kind": "snapshot",
                    "t": time.time(),
                    "reason": reason,
                    "path": path,
                    "nodes": info.node_count,
                    "bytes": info.total_size_bytes,
                }
            )
        except Exception as exc:
            sys.stderr.write(f"memhound: heap snapshot ({reason}) not written: {exc!r}\n")
            self.send(
                {
                    "kind": "snapshot-failed",
                    "t": time.time(),
                    "reason": reason,
                    "error": repr(exc)[:300],
                }
            )
        finally:
            self.snapshot_lock.release()
        return True

    def setup_snapshots(self) -> None:
        env = os.environ
        if not env.get(ENV_SNAPSHOT_DIR):
            return
        import signal

        try:
            self.snapshot_every = float(env.get(ENV_SNAPSHOT_EVERY) or 0)
            self.snapshot_above = int(env.get(ENV_SNAPSHOT_ABOVE) or 0)
        except ValueError:
            pass
        signum = _signal_number(env.get(ENV_SNAPSHOT_SIGNAL))
        if signum:
            signal.signal(signum, lambda *_: self.snapshot("signal"))
            self.snapshot_signal = signum
        if env.get(ENV_SNAPSHOT_AT_EXIT) == "1":
            self.snapshot_at_exit = True
            previous = signal.getsignal(signal.SIGTERM)

            def on_term(signum: int, frame: Any) -> None:
                self.snapshot("sigterm", wait_s=60.0)
                self.snapshot_at_exit = False
                signal.signal(signal.SIGTERM, previous if callable(previous) else signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

            if previous in (signal.SIG_DFL, None) or callable(previous):
                signal.signal(signal.SIGTERM, on_term)
        if self.snapshot_every or self.snapshot_above:
            # Imported now, in the main thread: imported by the snapshot thread, a fork at that
            # moment would leave the child with import locks no thread of its own will release.
            try:
                _snapshot_writer()
            except Exception:
                pass  # said when a snapshot is due
            self.next_snapshot_t = time.monotonic() + (self.snapshot_every or 0)

    # -- measurements on request -------------------------------------------------------------
    def setup_measure(self) -> None:
        signum = _signal_number(os.environ.get(ENV_MEASURE_SIGNAL))
        if signum:
            import signal

            signal.signal(signum, lambda *_: self.measure_now())
            self.measure_signal = signum

    def measure_now(self) -> None:
        """A full collection, then what is left: the traced heap (when tracing), RSS, threads
        and open fds of this process. Runs in the main thread, between two bytecodes."""
        try:
            import tracemalloc

            gc.collect()
            self.flush()  # the gc events waiting to be sent would read as a sawtooth
            traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
            try:
                fds = len(os.listdir("/proc/self/fd")) - 1  # the listing's own fd
            except OSError:
                fds = -1
            self.send(
                {
                    "kind": "measured",
                    "t": time.time(),
                    "traced": traced,
                    "rss": _rss(),
                    "threads": threading.active_count(),
                    "fds": fds,
                }
            )
        except Exception:
            pass

    def setup_resources(self) -> None:
        signum = _signal_number(os.environ.get(ENV_RESOURCES_SIGNAL))
        request = os.environ.get(ENV_RESOURCES_REQUEST, "")
        if signum and request:
            import signal

            signal.signal(signum, lambda *_: self.answer_resources())
            self.resources_signal = signum
            self.resources_request = request

    def answer_resources(self) -> None:
        """memhound's request about the resources this process holds, read from its file:
        ``mark`` remembers what is open now (with ``keep``, unless it is marked already, as a
        worker forked after its parent's mark is); ``deep`` makes tracemalloc record ``frames``
        frames (so that what is created next names the program's line under library code),
        ``shallow`` goes back; ``report`` sends what was opened since ``mark`` and is still
        open, grouped, with the deepest stack of each group. Each answer says which request
        it answers; a report comes in batches, the last one marked. Runs in the main thread,
        between two bytecodes; never raises (but a program's signal handler may)."""
        rid: Any = None
        action = ""
        try:
            import tracemalloc

            with open(self.resources_request, "rb") as fh:
                request = json.loads(fh.read())
            rid, action = request["id"], request["do"]
            groups: list[dict[str, Any]] = []
            if action == "mark" and not (request.get("keep") and self.marked):
                # "keep": a process forked after its parent was marked keeps the inherited
                # ids (what it opened since is the soak's too)
                self.open_before = {item["id"] for item in open_resources(10**6, stacks=False)}
                self.marked = True
            elif action == "deep":
                frames = int(request.get("frames", 16))
                limit = tracemalloc.get_traceback_limit()
                # only a tracing this agent started: the program's own settings stay its own
                if self.owns_tracing and tracemalloc.is_tracing() and limit < frames:
                    tracemalloc.stop()
                    tracemalloc.start(frames)
                    self.shallow_frames = self.shallow_frames or limit
            elif action == "shallow":
                if self.shallow_frames and tracemalloc.is_tracing():
                    tracemalloc.stop()
                    tracemalloc.start(self.shallow_frames)
                self.shallow_frames = 0
            elif action == "report":
                groups = left_open(self.open_before)
            frames = tracemalloc.get_traceback_limit() if tracemalloc.is_tracing() else 0
            head = {"kind": "resources", "id": rid, "do": action, "frames": frames}
            for i in range(0, max(len(groups), 1), 10):  # a datagram holds 60 kB
                last = i + 10 >= len(groups)
                self.send({**head, "t": time.time(), "groups": groups[i : i + 10], "last": last})
        except Exception as exc:
            if _raised_by_program(exc):
                raise
            self.send(
                {
                    "kind": "resources",
                    "t": time.time(),
                    "id": rid,
                    "do": action,
                    "groups": [],
                    "last": True,
                    "error": repr(exc)[:300],
                }
            )

    def ignore_signals(self) -> None:
        """From now on memhound's measure and snapshot signals are ignored. The interpreter
        puts the default action back at shutdown, which for a real-time signal is death: a
        measurement memhound asks for while the program ends on its own would replace its
        exit status by a death by memhound's signal (a server reported "killed by signal 40"
        when it had exited because its port was taken)."""
        try:
            import signal

            for signum in (self.measure_signal, self.snapshot_signal, self.resources_signal):
                if signum:
                    signal.signal(signum, signal.SIG_IGN)
        except Exception:
            pass  # not the main thread: the handlers stay, and so does the risk

    def _snapshot_loop(self) -> None:
        _block_signals()
        while not self.stopping.wait(min(self.interval_s * 4, 0.5)):
            try:
                # The threshold first, a tick after any snapshot: RSS read just after one
                # still holds the writer's own memory. It is cleared only once taken (once:
                # the moment memory got near the limit); skipped (a signal's snapshot under
                # way), it is tried again at the next tick rather than lost.
                if self.snapshot_above and _rss() >= self.snapshot_above:
                    self.snapshot("threshold")
                elif self.snapshot_every and time.monotonic() >= self.next_snapshot_t:
                    self.next_snapshot_t = time.monotonic() + self.snapshot_every
                    self.snapshot("interval")
            except Exception:
                pass

    def name_connections(self) -> None:
        """PostgreSQL sessions opened through libpq carry this process's pid in
        application_name, and redis-py connections in their client name (unless the program
        names them itself), so pg_stat_activity and CLIENT LIST rows map back to processes."""
        name = os.environ.get("PGAPPNAME", "")
        if not name or name.startswith("memhound:"):
            os.environ["PGAPPNAME"] = f"memhound:{os.getpid()}"
        if not any(isinstance(f, _RedisNamer) for f in sys.meta_path):
            if "redis.connection" in sys.modules:
                _name_redis(sys.modules["redis.connection"])
            else:
                sys.meta_path.insert(0, _RedisNamer())

    def apply_settings(self) -> None:
        """The allocator and gc settings memhound tune asked for (bad values are ignored)."""
        env = os.environ
        try:
            if env.get(ENV_GC_THRESHOLD):
                gc.set_threshold(*(int(x) for x in env[ENV_GC_THRESHOLD].split(",")))
            self.freeze = env.get(ENV_GC_FREEZE) == "1" and hasattr(gc, "freeze")
            self.collect_every = max(0, int(env.get(ENV_GC_COLLECT_EVERY) or 0))
            if env.get(ENV_MALLOC_TRIM) == "1":
                import ctypes
                import ctypes.util

                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                self.malloc_trim = libc.malloc_trim
        except Exception as exc:
            sys.stderr.write(f"memhound: a tuning setting was not applied: {exc!r}\n")

    def at_exit(self) -> None:
        self.ignore_signals()
        try:
            self.stopping.set()
            if self.trace_python:
                self.send_traced()
            self.flush()
            if self.snapshot_lock.acquire(timeout=60.0):
                # A snapshot under way (threshold, interval) in a daemon thread is finished
                # rather than cut off by the interpreter's shutdown, which would leave a .tmp.
                self.snapshot_lock.release()
            if self.snapshot_above and _rss() >= self.snapshot_above:
                # Crossed while an interval snapshot was being written, or in the program's
                # last moments: the snapshot thread has not taken it and now never will.
                self.snapshot("threshold", wait_s=60.0, exiting=True)
            if self.snapshot_at_exit:
                self.snapshot("exit", wait_s=60.0, exiting=True)
            self.trim()  # before the last reading of RSS, which memhound tune compares
            if os.environ.get(ENV_RESOURCE_STACKS) == "1":
                items = open_resources()
                for i in range(0, len(items), 20):
                    self.send(
                        {"kind": "open-resources", "t": time.time(), "items": items[i : i + 20]}
                    )
            self.send(
                {
                    "kind": "bye",
                    "t": time.time(),
                    "dropped": self.dropped,
                    "rss_bytes": _rss(),
                    "iterations": self.iterations,
                    "trims": self.trims,
                }
            )
        except Exception:
            pass


def _name_redis(module: Any) -> None:
    """Name redis-py connections the program left unnamed ``memhound:PID``, once connected,
    the way redis-py sends its own ``CLIENT SETINFO``: a server or proxy that refuses the
    command (an ACL user without ``+client``) leaves the connection as it was."""
    cls = getattr(module, "AbstractConnection", None) or getattr(module, "Connection", None)
    # redis-py 6+ connects through on_connect_check_health; older ones through on_connect
    name = "on_connect_check_health" if hasattr(cls, "on_connect_check_health") else "on_connect"
    connect = getattr(cls, name, None)
    if cls is None or connect is None or getattr(connect, "_memhound", False):
        return
    from redis.exceptions import ResponseError

    def on_connect(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = connect(self, *args, **kwargs)
        if not getattr(self, "client_name", None):
            try:
                self.send_command("CLIENT", "SETNAME", f"memhound:{os.getpid()}", **kwargs)
                self.read_response()
            except ResponseError:
                pass
        return result

    on_connect._memhound = True  # type: ignore[attr-defined]
    setattr(cls, name, on_connect)


class _RedisNamer:
    """Waits for ``redis.connection`` to be imported, then names its connections."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "redis.connection":
            return None
        sys.meta_path.remove(self)
        try:
            import importlib.util

            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        original = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            try:
                _name_redis(module)
            except Exception:
                pass

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _stack_of(obj: Any) -> list[list[Any]]:
    """Where ``obj`` was made, oldest frame first: its own allocation, or (for instances with
    a managed __dict__, which tracemalloc cannot look up) an object its __init__ made."""
    import tracemalloc

    tb = tracemalloc.get_object_traceback(obj)
    if tb is None:
        code = getattr(getattr(type(obj), "__init__", None), "__code__", None)
        lines = {ln for _, _, ln in code.co_lines() if ln} if code is not None else set()
        try:
            values = list(vars(obj).values())
        except TypeError:
            values = []
        fallback = None
        for value in values[:50]:
            if isinstance(value, (str, bytes, int, float, type)):
                continue
            cand = tracemalloc.get_object_traceback(value)
            if cand is None:
                continue
            if code is not None and any(
                f.filename == code.co_filename and f.lineno in lines for f in cand
            ):
                tb = cand
                break
            fallback = fallback or cand
        tb = tb or fallback
    return [[f.filename, f.lineno] for f in tb] if tb is not None else []


def open_resources(limit: int = 500, *, stacks: bool = True) -> list[dict[str, Any]]:
    """Sockets, files, database and Redis connections and daemon threads still open."""
    import io
    import socket as socket_mod

    items: list[dict[str, Any]] = []

    def add(kind: str, what: str, obj: Any) -> None:
        if len(items) < limit:
            stack = _stack_of(obj) if stacks else []
            items.append({"kind": kind, "what": what, "stack": stack, "id": id(obj)})

    for o in gc.get_objects():
        try:
            t = type(o)
            module = t.__dict__.get("__module__", "")
            module = module if isinstance(module, str) else ""
            if isinstance(o, socket_mod.socket):
                if o.fileno() < 0 or (_agent is not None and o is _agent.sock):
                    continue
                try:
                    peer = o.getpeername()
                except OSError:
                    peer = None
                try:
                    local = o.getsockname()
                except OSError:
                    local = None
                add("socket", f"socket {local} -> {peer}" if peer else f"socket {local}", o)
            elif isinstance(o, io.FileIO):
                if not o.closed and o.fileno() > 2:
                    add("file", f"file {o.name!r} ({o.mode})", o)
            elif module.startswith("psycopg") and t.__name__ == "Connection":
                if not o.closed:
                    add("postgres", f"psycopg connection ({o.info.dsn[:60]})", o)
            elif module.startswith("sqlalchemy.engine") and t.__name__ == "Connection":
                if not o.closed:
                    add("sqlalchemy", f"SQLAlchemy connection to {o.engine.url!r}", o)
            elif (
                module == "redis.connection"
                and t.__name__.endswith("Connection")
                and getattr(o, "_sock", None) is not None
            ):
                add("redis", f"Redis connection to {o.host}:{o.port}", o)
        except Exception:
            continue
    import threading

    for th in threading.enumerate():
        if th is not threading.main_thread() and th.is_alive() and th.name != "memhound-agent":
            add("thread", f"thread {th.name!r} (daemon)", th)
    return items


def grouping(what: str) -> str:
    """What makes two open resources "the same kind": a socket's peer, not its own port; a
    thread's name without its serial number (``Thread-12 (run)`` -> ``Thread-N (run)``)."""
    import re

    m = re.match(r"socket (.*) -> (.*)$", what)
    if m:
        return f"socket to {m.group(2)}"
    return re.sub(r"\b(Thread|Dummy|Timer)-\d+", r"\1-N", what)


def left_open(before: set[int], top: int = 50) -> list[dict[str, Any]]:
    """Resources open now and not in ``before`` (ids), grouped by kind and ``grouping``,
    most numerous first: ``{"kind", "what", "count", "stack"}``, the stack the deepest
    recorded among the group's members (oldest frame first)."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for item in open_resources(limit=100_000):
        if item["id"] in before:
            continue
        key = (item["kind"], grouping(item["what"]))
        group = groups.get(key)
        if group is None:
            group = groups[key] = {"kind": key[0], "what": key[1], "count": 0, "stack": []}
        group["count"] += 1
        if len(item["stack"]) >= len(group["stack"]):
            group["stack"] = item["stack"]
    return sorted(groups.values(), key=lambda g: g["count"], reverse=True)[:top]


def _signal_number(value: str | None) -> int:
    """A signal given by number ("40") or name ("SIGUSR2"); 0 when absent or unknown."""
    if not value:
        return 0
    if value.isdigit():
        return int(value)
    import signal

    return int(getattr(signal, value, 0))


def _rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return -1


_agent: _Agent | None = None


def current() -> _Agent | None:
    """The running agent of this process, or None."""
    return _agent


def start(
    path: str | None = None,
    trace_python: bool | None = None,
    interval_s: float | None = None,
) -> _Agent | None:
    """Start the agent once per process. Returns it, or None when there is nowhere to report."""
    global _agent
    if _agent is not None:
        return _agent
    path = path or os.environ.get(ENV_SOCKET)
    if not path:
        return None
    if trace_python is None:
        trace_python = os.environ.get(ENV_TRACE) == "1"
    if interval_s is None:
        try:
            interval_s = float(os.environ.get(ENV_INTERVAL, "0.05"))
        except ValueError:
            interval_s = 0.05
    try:
        gc_keep = int(os.environ.get(ENV_GC_KEEP, "20"))
    except ValueError:
        gc_keep = 20
    agent = _Agent(path, trace_python, max(interval_s, 0.01), gc_keep)
    if os.environ.get(ENV_RESOURCE_STACKS) == "1":
        import tracemalloc

        if not tracemalloc.is_tracing():
            tracemalloc.start(25)
    if trace_python:
        import tracemalloc

        if not tracemalloc.is_tracing():
            tracemalloc.start(1)
            agent.owns_tracing = True
    agent.apply_settings()
    agent.name_connections()
    agent.setup_snapshots()
    agent.setup_measure()
    agent.setup_resources()
    _install_unraisable_hook(agent)
    gc.callbacks.append(agent.on_gc)
    atexit.register(agent.at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=agent.after_fork_in_child)
    _agent = agent
    agent.hello()
    agent.start_threads()  # tracing and snapshot threads, when asked for
    return agent


def _snapshot_writer() -> Any:
    """memhound's heap writer (and numpy, which it imports lazily), from the package beside the
    boot folder. That folder is on ``sys.path`` only while they are imported: for the rest of
    the run the program's imports must not find memhound's neighbours (in a normal install,
    all of memhound's site-packages)."""
    boot = os.environ.get(ENV_BOOT_DIR, "")
    src = os.path.dirname(os.path.dirname(os.path.dirname(boot))) if boot else ""
    added = bool(src) and src not in sys.path
    if added:
        sys.path.append(src)
    try:
        from memhound.heap.writer import prepare, snapshot

        # what the first snapshot would import and build, now: this runs in the main thread
        # (see setup_snapshots), and a fork while the snapshot thread imported would leave
        # the child with import locks no thread of its own releases
        prepare(gzip=False)
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(src)
    return snapshot


def _raised_by_program(exc: BaseException) -> bool:
    """An exception with a frame outside this file: raised by one of the program's signal
    handlers, which Python runs wherever it next executes bytecode, the agent's included."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename != __file__:
            return True
        tb = tb.tb_next
    return False


def _install_unraisable_hook(agent: _Agent) -> None:
    """Python runs pending signal handlers at the first bytecode it executes, which during a
    collection is the agent's gc callback. What such a handler raises (KeyboardInterrupt,
    SystemExit from a SIGTERM handler, a timeout from SIGALRM) would leave the callback and
    be dropped by gc as "unraisable". Raise it in the program's frame instead, at its next
    bytecode, with a one-shot trace function (not when a tracer or debugger is active)."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        try:
            exc = unraisable.exc_value
            if (
                exc is not None
                and getattr(unraisable.object, "__self__", None) is agent
                and getattr(unraisable.object, "__func__", None) is _Agent.on_gc
                and isinstance(exc, BaseException)
                and sys.gettrace() is None
            ):
                frame: Any = sys._getframe(1)
                while frame is not None and frame.f_code.co_filename == __file__:
                    frame = frame.f_back
                if frame is not None:
                    _raise_in(frame, exc)
                    return
        except Exception:
            pass
        previous(unraisable)

    sys.unraisablehook = hook


def _raise_in(target: Any, exc: BaseException) -> None:
    def fire(frame: Any, event: str, arg: Any) -> Any:
        if frame is not target:
            return None  # a call on the way back to the program's frame: not traced
        target.f_trace = None
        sys.settrace(None)
        raise exc

    target.f_trace_opcodes = True
    target.f_trace = fire
    sys.settrace(fire)


def _block_signals() -> None:
    """The agent's threads take no asynchronous signal. The kernel hands a process-directed
    signal to any thread that does not block it: one the program blocks to ``sigwait`` for
    it would otherwise arrive here and, left at its default action, end the process."""
    try:
        import signal

        faults = {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL}
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - faults)
    except Exception:
        pass


def send_checkpoint(label: str, reading: dict[str, Any]) -> bool:
    """Send a labelled reading to memhound; False when no agent runs or it was dropped."""
    agent = _agent
    if agent is None:
        return False
    return agent.send({"kind": "checkpoint", "t": time.time(), "label": label, "reading": reading})


def iteration() -> None:
    """One turn of the program's main loop (``memhound.iteration()``): lets memhound tune
    apply per-iteration settings (gc.collect every N, gc.freeze after start-up)."""
    agent = _agent
    if agent is not None:
        agent.iteration()
