"""A small web shop for ``memhound soak --url``: pages that link to each other, a sitemap
index with two sitemaps, one page that leaks (``/cart/add`` keeps every cart line in a
module-level list) and one that only looks like it for a while (``/recent`` keeps the last 400
page views: it grows through a 300-request round of its own, then stops). Serve it with
``python examples/leaks/serve.py examples.leaks.shop:app``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

PRODUCTS = 5
PAGES = {
    "/": "Home",
    "/about": "About us",
    "/products": "Products",
    "/cart": "Your cart",
}


class CartLine:
    def __init__(self, path: str) -> None:
        self.path = path
        self.note = bytes(800)  # a new object per line


CART_LINES: list[CartLine] = []
RECENT: deque[bytes] = deque(maxlen=400)  # "recently viewed": bounded, so not a leak


def _page(title: str, links: list[str]) -> bytes:
    items = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
        f'<ul>{items}</ul><a href="https://example.com/elsewhere">off-site</a>'
        f'<a href="#top">top</a></body></html>'
    ).encode()


def _sitemap(urls: list[str], index: bool = False) -> bytes:
    tag, item = ("sitemapindex", "sitemap") if index else ("urlset", "url")
    body = "".join(f"<{item}><loc>{u}</loc></{item}>" for u in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<{tag} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</{tag}>'
    ).encode()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    base = f"http://{environ.get('HTTP_HOST') or '127.0.0.1'}"
    ctype = "text/html; charset=utf-8"
    status = "200 OK"
    if path == "/sitemap.xml":
        body, ctype = (
            _sitemap([base + "/sitemap-pages.xml", base + "/sitemap-shop.xml"], True),
            "application/xml",
        )
    elif path == "/sitemap-pages.xml":
        body, ctype = _sitemap([base + p for p in [*PAGES, "/recent"]]), "application/xml"
    elif path == "/sitemap-shop.xml":
        urls = [f"{base}/product/{i}" for i in range(1, PRODUCTS + 1)] + [base + "/cart/add"]
        body, ctype = _sitemap(urls), "application/xml"
    elif path == "/":
        body = _page("Home", ["/products", "/about", "/cart"])
    elif path == "/products":
        body = _page("Products", [f"/product/{i}" for i in range(1, PRODUCTS + 1)] + ["/"])
    elif path.startswith("/product/"):
        body = _page(f"Product {path.rsplit('/', 1)[-1]}", ["/cart/add", "/products"])
    elif path == "/cart/add":
        CART_LINES.append(CartLine(path))
        body = _page("Added", ["/cart"])
    elif path == "/recent":
        RECENT.append(bytes(1000))
        body = _page("Recently viewed", ["/"])
    elif path in PAGES:
        body = _page(PAGES[path], ["/"])
    else:
        status, body, ctype = "404 Not Found", b"not found", "text/plain"
    start_response(status, [("Content-Type", ctype)])
    return [body]


_SERVED = [0]


def dying_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The shop, except that the server process dies (exit status 3) at request
    ``SHOP_DIE_AFTER`` (default 400): what a crash or an OOM kill mid-soak looks like."""
    import os

    _SERVED[0] += 1
    if _SERVED[0] >= int(os.environ.get("SHOP_DIE_AFTER", "400")):
        os._exit(3)
    return app(environ, start_response)


def hanging_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The shop, except that from request ``SHOP_HANG_AFTER`` (default 300) on, every request
    hangs: a deadlocked worker, a database that stopped answering."""
    import os
    import time

    _SERVED[0] += 1
    if _SERVED[0] >= int(os.environ.get("SHOP_HANG_AFTER", "300")):
        time.sleep(3600)
    return app(environ, start_response)
