"""HTTP over real sockets: a server on (by default) a loopback address, kept-alive connections
(one per worker thread), and the ways to find which URLs to request: a sitemap (and sitemap
indexes), a file of URLs, or links found by crawling the start page.

Everything here is bounded: bytes read per response and per sitemap, URLs collected, pages
crawled, seconds per request. Sitemaps are parsed without a DTD: a document that declares one
(the way entity-expansion bombs do) is refused before the parser sees it.
"""

from __future__ import annotations

import gzip
import http.client
import ipaddress
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit
from xml.parsers import expat

from memhound.errors import UsageError
from memhound.load.base import Outcome, answered_ok

#: The sitemap protocol's own limits: 50,000 URLs and 50 MB uncompressed per file.
SITEMAP_MAX_BYTES = 50 * 1024 * 1024
SITEMAP_MAX_URLS = 50_000
SITEMAP_MAX_FILES = 100
#: What a crawled page may weigh before the rest is ignored.
PAGE_MAX_BYTES = 4 * 1024 * 1024
#: Requests in a row without any HTTP answer (refused, reset, timed out) before a soak
#: stops: the server hangs or is gone.
GIVE_UP_AFTER = 10
#: A response body is read to its end (the connection is reused), but at most this much.
BODY_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @property
    def base(self) -> str:
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}{port}"


def parse_origin(url: str, *, allow_remote: bool = False) -> Origin:
    """The scheme, host and port of ``url``; refuses hosts that are not loopback unless
    ``allow_remote`` (a soak is load: it must not be pointed at someone else's server by a
    typo)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an http(s) URL: {url!r}", hint="e.g. --url http://127.0.0.1:8000/")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UsageError(f"bad port in {url!r}: {exc}") from exc
    host = parts.hostname
    if not allow_remote and not is_loopback(host):
        raise UsageError(
            f"{host!r} is not a loopback address: memhound soak only loads this machine's "
            "servers unless told otherwise",
            hint="use 127.0.0.1 or localhost, or pass --allow-remote if you own that server",
        )
    return Origin(parts.scheme, host, port)


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def wait_for_port(origin: Origin, timeout_s: float, alive: object = None) -> bool:
    """True once ``origin`` accepts a TCP connection, False after ``timeout_s`` or as soon as
    ``alive()`` says the server process is gone."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(alive) and not alive():
            return False
        try:
            with socket.create_connection((origin.host, origin.port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class HttpDriver:
    """GET each endpoint (a path, or an absolute URL of the same origin) over a kept-alive
    connection per calling thread; reconnects once when the server closed it."""

    def __init__(
        self,
        origin: Origin,
        endpoints: tuple[str, ...],
        *,
        timeout_s: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.origin = origin
        self.endpoints = tuple(self._path(e) for e in endpoints) or ("/",)
        self.timeout_s = timeout_s
        self.headers = {"User-Agent": "memhound-soak", **(headers or {})}
        self._local = threading.local()
        self._failures_in_a_row = 0
        #: Set once ``GIVE_UP_AFTER`` requests in a row got no HTTP answer at all.
        self.gave_up: str | None = None

    def _path(self, endpoint: str) -> str:
        if endpoint.startswith(("http://", "https://")):
            parts = urlsplit(endpoint)
            path = parts.path or "/"
            return f"{path}?{parts.query}" if parts.query else path
        return endpoint if endpoint.startswith("/") else "/" + endpoint

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = (
                http.client.HTTPSConnection
                if self.origin.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(self.origin.host, self.origin.port, timeout=self.timeout_s)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def drive(self, endpoint: str) -> Outcome:
        out = self._drive(endpoint)
        if out.status is None:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= GIVE_UP_AFTER and self.gave_up is None:
                self.gave_up = (
                    f"{GIVE_UP_AFTER} requests in a row got no answer from "
                    f"{self.origin.base} (last: {out.error})"
                )
        else:
            self._failures_in_a_row = 0
        return out

    def _drive(self, endpoint: str) -> Outcome:
        last: Exception | None = None
        for _attempt in range(2):
            conn = self._connection()
            try:
                conn.request("GET", endpoint, headers=self.headers)
                resp = conn.getresponse()
                left = BODY_MAX_BYTES
                while left > 0 and resp.read(min(left, 1 << 16)):
                    left -= 1 << 16
                if resp.will_close or left <= 0:
                    self._drop()
                return Outcome(endpoint, answered_ok(resp.status), resp.status)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                # a kept-alive connection the server closed meanwhile: one fresh try
                last = e
                self._drop()
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                return Outcome(endpoint, False, None, f"{type(exc).__name__}: {exc}")
        return Outcome(endpoint, False, None, f"{type(last).__name__}: {last}")

    def close(self) -> None:
        self._drop()

    def fetch(self, path: str, max_bytes: int) -> tuple[int, str, bytes]:
        """One GET for discovery: (status, content type, body up to ``max_bytes``)."""
        conn = self._connection()
        try:
            conn.request("GET", path, headers={**self.headers, "Accept-Encoding": "identity"})
            resp = conn.getresponse()
            body = resp.read(max_bytes + 1)
            if len(body) > max_bytes or resp.will_close:
                self._drop()  # the rest is not read: this connection cannot be reused
            return resp.status, resp.getheader("Content-Type", "") or "", body[: max_bytes + 1]
        except (OSError, http.client.HTTPException):
            self._drop()
            raise


# -- sitemaps --------------------------------------------------------------------------------
class SitemapError(UsageError):
    """A sitemap that cannot be used: unreachable, too big, malformed, or declaring a DTD."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_sitemap(data: bytes, *, name: str = "sitemap") -> tuple[list[str], list[str]]:
    """(page URLs, child sitemap URLs) of one sitemap or sitemap index document.

    Gzip is undone (bounded); a DOCTYPE or ENTITY declaration is refused, so no entity is
    ever expanded; anything else not well-formed is a SitemapError naming the problem."""
    if data[:2] == b"\x1f\x8b":
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = d.decompress(data, SITEMAP_MAX_BYTES + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise SitemapError(f"{name}: not a valid gzip file: {exc}") from exc
    if len(data) > SITEMAP_MAX_BYTES:
        raise SitemapError(
            f"{name}: more than {SITEMAP_MAX_BYTES // 2**20} MiB (the sitemap protocol's limit)",
            hint="split it with a sitemap index, or pass the URLs with --urls FILE",
        )
    kind, locs = _sitemap_locs(data, name)
    if kind not in ("urlset", "sitemapindex"):
        raise SitemapError(
            f"{name}: the root element is <{kind}>, not <urlset> or <sitemapindex>",
            hint="give the address of a sitemap.xml",
        )
    return (locs, []) if kind == "urlset" else ([], locs)


class _DtdRefused(Exception):
    pass


def _refuse_dtd(*_: object) -> None:
    raise _DtdRefused


def _sitemap_locs(data: bytes, name: str) -> tuple[str, list[str]]:
    """(root element's name, the first ``<loc>`` of each entry), read by expat itself: a
    DOCTYPE or entity declaration is refused wherever it is and in whatever encoding the
    document declares (UTF-16 included), before anything is expanded."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    root = ""
    locs: list[str] = []
    depth = 0
    taken = False  # this entry's <loc> was read
    text: list[str] | None = None  # inside a <loc>

    def start(tag: str, _attrs: object) -> None:
        nonlocal root, depth, taken, text
        depth += 1
        if depth == 1:
            root = _local(tag)
        elif depth == 2:
            taken = False
        elif depth == 3 and not taken and _local(tag) == "loc":
            text = []

    def end(_tag: str) -> None:
        nonlocal depth, taken, text
        if depth == 3 and text is not None:
            loc = "".join(text).strip()
            if loc and len(locs) < SITEMAP_MAX_URLS:
                locs.append(loc)
                taken = True
            text = None
        depth -= 1

    def chars(data: str) -> None:
        if text is not None:
            text.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except _DtdRefused:
        raise SitemapError(
            f"{name}: declares a DTD or entities, which sitemaps never need; refused (entity "
            "expansion is how XML bombs work)",
            hint="serve a plain sitemap, or pass the URLs with --urls FILE",
        ) from None
    except expat.ExpatError as exc:
        raise SitemapError(
            f"{name}: not well-formed XML ({exc})",
            hint="check it with an XML validator, or pass the URLs with --urls FILE",
        ) from exc
    return root, locs


def _same_origin(url: str, origin: Origin) -> bool:
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc:
        return True
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    return parts.scheme == origin.scheme and parts.hostname == origin.host and port == origin.port


def sitemap_urls(driver: HttpDriver, sitemap: str, *, max_urls: int) -> list[str]:
    """Page paths from ``sitemap`` (a path or same-origin URL) and the sitemaps it indexes,
    breadth first, up to ``max_urls``; pages of other origins are skipped (counted)."""
    pending = [sitemap]
    seen_maps: set[str] = set()
    pages: list[str] = []
    seen_pages: set[str] = set()
    while pending and len(pages) < max_urls and len(seen_maps) < SITEMAP_MAX_FILES:
        url = pending.pop(0)
        if url in seen_maps:
            continue
        seen_maps.add(url)
        if not _same_origin(url, driver.origin):
            raise SitemapError(
                f"{url}: a sitemap on another origin than {driver.origin.base}",
                hint="memhound only loads the server it was pointed at",
            )
        path = driver._path(url)
        try:
            status, _ctype, body = driver.fetch(path, SITEMAP_MAX_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            raise SitemapError(
                f"cannot fetch the sitemap {url}: {exc}", hint="is the server running?"
            ) from exc
        if status != 200:
            raise SitemapError(
                f"the sitemap {url} answered HTTP {status}",
                hint="check the address, or pass the URLs with --urls FILE",
            )
        locs, maps = parse_sitemap(body, name=url)
        pending.extend(maps)
        for loc in locs:
            if _same_origin(loc, driver.origin):
                p = driver._path(loc)
                if p not in seen_pages:
                    seen_pages.add(p)
                    pages.append(p)
                    if len(pages) >= max_urls:
                        break
    if not pages:
        raise SitemapError(f"the sitemap {sitemap} lists no page of {driver.origin.base}")
    return pages


# -- link discovery --------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            for k, v in attrs:
                if k == "href" and v:
                    self.hrefs.append(v)


def discover_links(
    driver: HttpDriver, start: str, *, max_urls: int, max_pages: int | None = None
) -> list[str]:
    """Same-origin pages reachable by links from ``start``, breadth first, up to
    ``max_urls`` paths (fetching at most ``max_pages`` pages, by default 2 x max_urls)."""
    max_pages = max_pages if max_pages is not None else 2 * max_urls
    start_path = driver._path(start)
    found = [start_path]
    seen = {start_path}
    queue = [start_path]
    fetched = 0
    while queue and fetched < max_pages and len(found) < max_urls:
        path = queue.pop(0)
        fetched += 1
        try:
            status, ctype, body = driver.fetch(path, PAGE_MAX_BYTES)
        except (OSError, http.client.HTTPException):
            continue
        if status != 200 or "html" not in ctype.lower():
            continue
        parser = _Links()
        try:
            parser.feed(body[:PAGE_MAX_BYTES].decode("utf-8", "replace"))
        except Exception:  # a page the parser chokes on gives no links, not a crash
            continue
        base = driver.origin.base + path
        for href in parser.hrefs:
            url, _frag = urldefrag(urljoin(base, href))
            if not url.startswith(("http://", "https://")) or not _same_origin(url, driver.origin):
                continue
            p = driver._path(url)
            if p not in seen:
                seen.add(p)
                found.append(p)
                queue.append(p)
                if len(found) >= max_urls:
                    break
    return found
