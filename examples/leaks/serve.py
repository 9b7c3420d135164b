"""Serve a WSGI app over real HTTP on 127.0.0.1, for ``memhound soak --url``:

    python examples/leaks/serve.py examples.leaks.zoo:AUDIT_TRAIL --port 8000

HTTP/1.1 with keep-alive (the load generator reuses its connections, as browsers and
proxies do), a thread per connection, loopback only. Standard library only.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Any


def load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    sys.path.insert(0, os.getcwd())
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def make_handler(app: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": str(self.server.server_address[1]),
                "SERVER_PROTOCOL": "HTTP/1.1",
                "HTTP_HOST": self.headers.get("Host", ""),
                "wsgi.version": (1, 0),
                "wsgi.url_scheme": "http",
                "wsgi.input": BytesIO(b""),
                "wsgi.errors": sys.stderr,
                "wsgi.multithread": True,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
            }
            status: list[str] = []
            headers: list[tuple[str, str]] = []

            def start_response(s: str, h: list[tuple[str, str]], exc_info: Any = None) -> Any:
                status.append(s)
                headers.extend(h)
                return lambda data: None

            try:
                chunks = app(environ, start_response)
                body = b"".join(chunks)
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            except Exception as exc:
                status[:] = ["500 Internal Server Error"]
                headers[:] = [("Content-Type", "text/plain")]
                body = f"{type(exc).__name__}: {exc}".encode()
            code, _, reason = status[0].partition(" ")
            self.send_response(int(code), reason)
            for k, v in headers:
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: thousands of requests

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", help="module:attribute of a WSGI app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(load(args.app)))
    server.daemon_threads = True
    print(f"serving {args.app} on http://127.0.0.1:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
