"""Resources of a process tree, sampled together: fds by kind, sockets by state, threads,
and the PostgreSQL backends and Redis clients that belong to it (matched by the client
port of each server-side session to the tree's own sockets)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from memhound.errors import MemhoundError
from memhound.model.timeline import ResourceSample
from memhound.model.verdict import ResourceLimit
from memhound.watchers import fds as fdw


def _unix(f: fdw.Fd) -> bool:
    """A Unix socket, or a socket not found in the tables (the agent's is one of these)."""
    return f.kind == "socket" and (f.socket is None or f.socket.protocol == "unix")


class ResourceSampler:
    """``sample(t, pids)`` -> ResourceSample. A server that cannot be reached is an error in
    that sample (and said once on stderr by the caller), never the end of the run."""

    def __init__(self, *, postgres: str | None = None, redis: str | None = None) -> None:
        self.postgres = postgres
        self.redis = redis
        # kept between samples: a sample reads the socket tables only when a socket appeared
        self._sockets = fdw.SocketCache()

    def sample(
        self, t: float, pids: Iterable[int], *, skip_fds: Mapping[int, int] | None = None
    ) -> ResourceSample:
        by_pid: dict[int, dict[str, int]] = {}
        port_owner: dict[int, int] = {}
        errors: list[str] = []
        self._sockets.new_sample()
        for pid in pids:
            counts: dict[str, int] = {}
            try:
                fds = fdw.open_fds(pid, sockets_cache=self._sockets)
            except MemhoundError:
                continue
            # memhound's agent socket: named in the hello, and bound to a name of its own
            own = (skip_fds or {}).get(pid)
            fds = [f for f in fds if not (f.is_memhound_agent or (f.fd == own and _unix(f)))]
            counts["fds"] = len(fds)
            for f in fds:
                key = f"fds.{f.kind}"
                counts[key] = counts.get(key, 0) + 1
                if f.socket is not None and f.socket.protocol.startswith("tcp"):
                    key = f"sockets.{f.socket.state}"
                    counts[key] = counts.get(key, 0) + 1
                    if f.socket.state == "ESTABLISHED":
                        key = f"sockets.to:{f.socket.remote}"
                        counts[key] = counts.get(key, 0) + 1
                    port = f.socket.local_port
                    if port is not None:
                        port_owner[port] = pid
            try:
                counts["threads"] = len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
            by_pid[pid] = counts
        if self.postgres:
            from memhound.watchers.postgres import backends

            try:
                for b in backends(self.postgres):
                    owner = port_owner.get(b.client_port) if b.client_port else None
                    if owner is None:
                        continue
                    counts = by_pid[owner]
                    counts["postgres.backends"] = counts.get("postgres.backends", 0) + 1
                    if b.idle_in_transaction:
                        key = "postgres.idle_in_transaction"
                        counts[key] = counts.get(key, 0) + 1
            except MemhoundError as exc:
                errors.append(exc.message)
        if self.redis:
            from memhound.watchers.redis import clients

            try:
                for c in clients(self.redis):
                    owner = port_owner.get(c.port) if c.port else None
                    if owner is not None:
                        counts = by_pid[owner]
                        counts["redis.clients"] = counts.get("redis.clients", 0) + 1
            except MemhoundError as exc:
                errors.append(exc.message)
        totals: dict[str, int] = {}
        for counts in by_pid.values():
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
        # A server that answered and has no session of ours counts 0; one that did not
        # answer counts nothing (not 0: that would read as every session closing).
        failed = " ".join(errors)
        if self.postgres and "PostgreSQL at" not in failed:
            totals.setdefault("postgres.backends", 0)
        if self.redis and "Redis at" not in failed:
            totals.setdefault("redis.clients", 0)
        return ResourceSample(t, totals, by_pid, tuple(errors))

    def server_limits(self, pids: Iterable[int]) -> dict[str, ResourceLimit]:
        """The most sessions the tree ``pids`` can open on the watched servers, read now:
        PostgreSQL's ``max_connections`` less the reserved slots and the other clients'
        sessions; Redis's ``maxclients`` less the other clients. Unknown (with why) when the
        server cannot be asked."""
        out: dict[str, ResourceLimit] = {}
        if not self.postgres and not self.redis:
            return out
        pids = list(pids)
        if self.postgres:
            from memhound.watchers._dsn import mask_dsn
            from memhound.watchers.postgres import connection_limit

            try:
                most, reserved, sessions = connection_limit(self.postgres)
                ours = self.sample(0.0, pids).totals.get("postgres.backends", 0)
                others = sessions - ours
            except MemhoundError as exc:
                out["postgres.backends"] = ResourceLimit(
                    "postgres.backends", None, f"unknown: {exc.message}"
                )
            else:
                source = f"max_connections {most:,} of PostgreSQL at {mask_dsn(self.postgres)}"
                if reserved:
                    source += f", less {reserved} reserved slots"
                if others > 0:
                    source += f", less {others:,} sessions of other clients"
                out["postgres.backends"] = ResourceLimit(
                    "postgres.backends", most - reserved - max(0, others), source
                )
        if self.redis:
            from memhound.watchers.redis import clients, mask_url, max_clients

            try:
                most = max_clients(self.redis)
                ours = self.sample(0.0, pids).totals.get("redis.clients", 0)
                others = len(clients(self.redis)) - ours
            except MemhoundError as exc:
                out["redis.clients"] = ResourceLimit(
                    "redis.clients", None, f"unknown: {exc.message}"
                )
            else:
                source = f"maxclients {most:,} of Redis at {mask_url(self.redis)}"
                if others > 0:
                    source += f", less {others:,} other clients"
                out["redis.clients"] = ResourceLimit("redis.clients", most - max(0, others), source)
        return out

    def sample_servers(self, t: float) -> ResourceSample:
        """The servers' whole view, grouped: PostgreSQL backends by application, user,
        client address and state (idle-in-transaction sessions and the oldest one's age
        called out); Redis clients by name and client host."""
        totals: dict[str, int] = {}
        errors: list[str] = []

        def bump(key: str, n: int = 1) -> None:
            totals[key] = totals.get(key, 0) + n

        if self.postgres:
            from memhound.watchers.postgres import backends

            try:
                rows = backends(self.postgres)
            except MemhoundError as exc:
                errors.append(exc.message)
            else:
                totals["postgres.backends"] = len(rows)
                totals["postgres.idle_in_transaction"] = 0
                oldest = 0.0
                for b in rows:
                    if b.details_hidden:
                        bump("postgres.hidden")
                        continue
                    bump(f"postgres.app:{b.application_name or '-'}")
                    bump(f"postgres.user:{b.user or '-'}")
                    bump(f"postgres.client:{b.client_addr or 'local'}")
                    bump(f"postgres.state:{b.state or '-'}")
                    if b.idle_in_transaction:
                        bump("postgres.idle_in_transaction")
                        oldest = max(oldest, b.xact_age_s or 0.0)
                totals["postgres.oldest_idle_in_transaction_s"] = int(oldest)
        if self.redis:
            from memhound.watchers.redis import clients

            try:
                found = clients(self.redis)
            except MemhoundError as exc:
                errors.append(exc.message)
            else:
                totals["redis.clients"] = len(found)
                totals["redis.oldest_client_age_s"] = max((c.age_s for c in found), default=0)
                totals["redis.longest_idle_s"] = max((c.idle_s for c in found), default=0)
                for c in found:
                    bump(f"redis.name:{c.name or '-'}")
                    bump(f"redis.client:{c.addr.rpartition(':')[0] or '-'}")
        return ResourceSample(t, totals, {}, tuple(errors))
