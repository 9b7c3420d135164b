"""PostgreSQL backends from ``pg_stat_activity`` (needs psycopg 3: ``memhound[postgres]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memhound.errors import MemhoundError, MissingDependency
from memhound.watchers._dsn import mask_dsn


class WatcherError(MemhoundError):
    """A watched server could not be reached or queried."""


@dataclass(frozen=True)
class Backend:
    pid: int
    application_name: str
    user: str
    client_addr: str | None
    client_port: int | None
    state: str
    state_age_s: float | None
    xact_age_s: float | None
    query: str
    #: Another user's session seen without pg_read_all_stats: state, address and query
    #: are hidden from us (grant pg_read_all_stats to the watching user to see them).
    details_hidden: bool = False

    @property
    def idle_in_transaction(self) -> bool:
        return self.state.startswith("idle in transaction")


_QUERY = """
SELECT pid, coalesce(application_name, ''), coalesce(usename, ''), host(client_addr),
       client_port, coalesce(state, ''),
       extract(epoch FROM now() - state_change), extract(epoch FROM now() - xact_start),
       left(coalesce(query, ''), 200), backend_type IS NULL
FROM pg_stat_activity
WHERE (backend_type = 'client backend' OR backend_type IS NULL AND usename IS NOT NULL)
  AND pid <> pg_backend_pid()
"""


def backends(dsn: str, *, timeout_s: float = 5.0) -> list[Backend]:
    """Client backends other than our own query's. Rows of other users are visible only
    to superusers and pg_read_all_stats members: theirs come back with an empty state."""
    rows = _query(dsn, _QUERY, timeout_s)
    return [
        Backend(
            pid=int(r[0]),
            application_name=str(r[1]),
            user=str(r[2]),
            client_addr=r[3],
            client_port=int(r[4]) if r[4] is not None else None,
            state=str(r[5]),
            state_age_s=float(r[6]) if r[6] is not None else None,
            xact_age_s=float(r[7]) if r[7] is not None else None,
            query=str(r[8]),
            details_hidden=bool(r[9]),
        )
        for r in rows
    ]


_LIMIT_QUERY = """
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       coalesce(current_setting('reserved_connections', true), '0')::int,
       (SELECT count(*) FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
          AND application_name <> 'memhound-watcher')::int
"""


def connection_limit(dsn: str, *, timeout_s: float = 5.0) -> tuple[int, int, int]:
    """``(max_connections, slots reserved, client sessions now)``: the reserved slots are
    ``superuser_reserved_connections`` and, from PostgreSQL 16, ``reserved_connections``
    (for pg_use_reserved_connections): an ordinary role gets "too many clients" at the
    first less the second. The sessions leave out memhound's own (which may still be
    listed for a moment after they closed)."""
    row = _query(dsn, _LIMIT_QUERY, timeout_s)[0]
    return int(row[0]), int(row[1]) + int(row[2]), int(row[3])


def _query(dsn: str, sql: str, timeout_s: float) -> list[Any]:
    """The rows of ``sql`` on a short-lived connection of memhound's own; errors name the
    server with its credentials masked (psycopg's message included)."""
    try:
        import psycopg
    except ImportError as exc:
        raise MissingDependency(
            "watching PostgreSQL needs psycopg 3", hint="pip install 'memhound[postgres]'"
        ) from exc
    try:
        with psycopg.connect(
            dsn,
            connect_timeout=max(1, int(timeout_s)),
            application_name="memhound-watcher",
            autocommit=True,
        ) as conn:
            return conn.execute(sql).fetchall()
    except psycopg.Error as exc:
        raise WatcherError(
            f"PostgreSQL at {mask_dsn(dsn)}: {mask_dsn(str(exc).strip().splitlines()[0])}",
            hint="check the DSN, that the server runs, and the user's rights",
        ) from exc
