"""In-process ASGI: each request is one call of the app on memhound's own event loop, without
sockets. The app's lifespan (startup and shutdown) runs when it supports one; concurrency is
``asyncio.gather`` of several requests on that loop, the way an ASGI server would run them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from memhound.load.base import Outcome, answered_ok

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LIFESPAN_TIMEOUT_S = 30.0


class AsgiDriver:
    def __init__(self, app: AsgiApp, endpoints: tuple[str, ...] = ("/",)) -> None:
        self.app = app
        self.endpoints: tuple[str, ...] = endpoints
        self.loop = asyncio.new_event_loop()
        self.state: dict[str, Any] = {}
        self._lifespan: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[Message] | None = None
        self._from_app: asyncio.Queue[Message] | None = None
        self.lifespan_error: str | None = None
        self.loop.run_until_complete(self._startup())

    # -- lifespan -----------------------------------------------------------------------------
    async def _startup(self) -> None:
        self._to_app, self._from_app = asyncio.Queue(), asyncio.Queue()
        to_app, from_app = self._to_app, self._from_app
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }

        async def run() -> None:
            try:
                await self.app(scope, to_app.get, from_app.put)
            except Exception as exc:  # an app without lifespan support raises here: fine
                await from_app.put({"type": "memhound.lifespan.unsupported", "error": repr(exc)})

        self._lifespan = self.loop.create_task(run())
        await to_app.put({"type": "lifespan.startup"})
        reply = await asyncio.wait_for(from_app.get(), LIFESPAN_TIMEOUT_S)
        if reply["type"] == "lifespan.startup.failed":
            from memhound.errors import UsageError

            raise UsageError(
                f"the app's lifespan startup failed: {reply.get('message', '')}",
                hint="the app could not start; run it by hand to see why",
            )
        if reply["type"] != "lifespan.startup.complete":
            self._lifespan = None  # no lifespan: requests only

    def close(self) -> None:
        if self._lifespan is not None and self._to_app and self._from_app:
            to_app, from_app = self._to_app, self._from_app

            async def shutdown() -> None:
                await to_app.put({"type": "lifespan.shutdown"})
                await asyncio.wait_for(from_app.get(), LIFESPAN_TIMEOUT_S)

            try:
                self.loop.run_until_complete(shutdown())
            except Exception:
                pass
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        try:
            self.loop.run_until_complete(asyncio.sleep(0))
        finally:
            self.loop.close()

    # -- requests -----------------------------------------------------------------------------
    async def _request(self, endpoint: str) -> Outcome:
        path, _, query = endpoint.partition("?")
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"memhound-soak")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": dict(self.state),
        }
        sent_body = False
        status: list[int] = []

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # no disconnect until the response is complete
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))

        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            return Outcome(endpoint, False, None, f"{type(exc).__name__}: {exc}")
        code = status[0] if status else None
        return Outcome(endpoint, answered_ok(code), code)

    def drive(self, endpoint: str) -> Outcome:
        return self.loop.run_until_complete(self._request(endpoint))

    def drive_concurrently(self, endpoints: list[str], concurrency: int) -> list[Outcome]:
        """Run ``endpoints`` with at most ``concurrency`` requests in flight; their outcomes."""

        async def all_of() -> list[Outcome]:
            gate = asyncio.Semaphore(concurrency)

            async def one(e: str) -> Outcome:
                async with gate:
                    return await self._request(e)

            return list(await asyncio.gather(*(one(e) for e in endpoints)))

        return self.loop.run_until_complete(all_of())
