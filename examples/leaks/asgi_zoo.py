"""ASGI apps for ``memhound soak --asgi``: one that leaks like zoo.AUDIT_TRAIL, one control,
both with a lifespan (the startup builds a table; shutdown clears it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Session:
    def __init__(self, path: str) -> None:
        self.path = path
        self.blob = bytes(1000)  # a new object per request


SESSIONS: list[Session] = []
STARTED: dict[str, Any] = {}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            STARTED["table"] = [str(i) for i in range(10_000)]
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            STARTED.clear()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond(send: Send, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def leaky(scope: Scope, receive: Receive, send: Send) -> None:
    """Leak: every request's session is kept in a module-level list (~1.1 KiB each)."""
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    await receive()
    await asyncio.sleep(0)  # a real await: requests interleave under concurrency
    SESSIONS.append(Session(scope["path"]))
    await _respond(send, b"ok")


async def steady(scope: Scope, receive: Receive, send: Send) -> None:
    """Control: 256 KiB of temporaries per request, all freed."""
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    await receive()
    rows = [bytes(1024) for _ in range(256)]
    await asyncio.sleep(0)
    await _respond(send, str(len(rows) + len(STARTED["table"])).encode())
