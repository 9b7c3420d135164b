"""In-process WSGI: each request is one call of the app, without sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any
from wsgiref.util import setup_testing_defaults

from memhound.load.base import Outcome, answered_ok

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WsgiDriver:
    def __init__(self, app: WsgiApp, endpoints: tuple[str, ...] = ("/",)) -> None:
        self.app = app
        self.endpoints: tuple[str, ...] = endpoints

    def drive(self, endpoint: str) -> Outcome:
        path, _, query = endpoint.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "wsgi.input": BytesIO(b""),
        }
        setup_testing_defaults(environ)
        status: list[str] = []

        def start_response(s: str, headers: Any, exc_info: Any = None) -> Callable[..., Any]:
            status.append(s)
            return lambda data: None

        try:
            body = self.app(environ, start_response)
            try:
                for _ in body:
                    pass
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        except Exception as exc:
            return Outcome(endpoint, False, None, f"{type(exc).__name__}: {exc}")
        code = int(status[-1].split()[0]) if status else None  # the last: after an exc_info retry
        return Outcome(endpoint, answered_ok(code), code)
