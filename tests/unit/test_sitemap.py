"""Sitemaps are parsed safely: no entity is expanded, sizes are bounded, errors say why."""

from __future__ import annotations

import gzip
import time

import pytest

from memhound.errors import UsageError
from memhound.load.http import SITEMAP_MAX_BYTES, SitemapError, parse_origin, parse_sitemap

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def test_urlset_and_index() -> None:
    doc = (
        f"<urlset {NS}><url><loc> http://h/a </loc><lastmod>x</lastmod></url>"
        "<url><loc>/b</loc></url></urlset>"
    )
    assert parse_sitemap(doc.encode()) == (["http://h/a", "/b"], [])
    index = f"<sitemapindex {NS}><sitemap><loc>http://h/s1.xml</loc></sitemap></sitemapindex>"
    assert parse_sitemap(index.encode()) == ([], ["http://h/s1.xml"])


def test_gzip() -> None:
    doc = f"<urlset {NS}><url><loc>/a</loc></url></urlset>".encode()
    assert parse_sitemap(gzip.compress(doc)) == (["/a"], [])


def test_entity_bombs_are_refused_without_expansion() -> None:
    lol = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'
            for i in range(1, 10)
        )
        + f"]><urlset {NS}><url><loc>&lol9;</loc></url></urlset>"
    )
    t = time.perf_counter()
    with pytest.raises(SitemapError, match="declares a DTD or entities"):
        parse_sitemap(lol.encode())
    assert time.perf_counter() - t < 1.0  # refused before any expansion (not a speed target)
    external = f'<!DOCTYPE x SYSTEM "file:///etc/passwd"><urlset {NS}></urlset>'
    with pytest.raises(SitemapError, match="DTD"):
        parse_sitemap(external.encode())


def test_a_dtd_is_refused_wherever_it_is_and_in_any_encoding() -> None:
    # memhound looked for a DOCTYPE only in the first 4 KiB, and a UTF-16 document's
    # entities got past its check (only expat stopped them)
    late = f'<?xml version="1.0"?><!--{" " * 5000}--><!DOCTYPE u [<!ENTITY a "/x">]>'
    late += f"<urlset {NS}><url><loc>&a;</loc></url></urlset>"
    with pytest.raises(SitemapError, match="declares a DTD or entities"):
        parse_sitemap(late.encode())
    wide = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE u [<!ENTITY a "/x">]>'
    wide += f"<urlset {NS}><url><loc>&a;</loc></url></urlset>"
    with pytest.raises(SitemapError, match="declares a DTD or entities"):
        parse_sitemap(wide.encode("utf-16"))
    plain = f'<?xml version="1.0" encoding="UTF-16"?><urlset {NS}><url><loc>/é</loc></url></urlset>'
    assert parse_sitemap(plain.encode("utf-16")) == (["/é"], [])


def test_malformed_wrong_root_and_huge() -> None:
    with pytest.raises(SitemapError, match="not well-formed XML"):
        parse_sitemap(b"<urlset><url><loc>/a</loc></urlset>")
    with pytest.raises(SitemapError, match="not <urlset> or <sitemapindex>"):
        parse_sitemap(b"<html><body/></html>")
    with pytest.raises(SitemapError, match="not a valid gzip"):
        parse_sitemap(b"\x1f\x8bnot gzip at all")
    huge = gzip.compress(b" " * (SITEMAP_MAX_BYTES + 10))  # a small file, a big inflation
    with pytest.raises(SitemapError, match="more than 50 MiB"):
        parse_sitemap(huge)


def test_loopback_only_unless_allowed() -> None:
    assert parse_origin("http://127.0.0.1:8000/x").port == 8000
    assert parse_origin("http://localhost/").port == 80
    assert parse_origin("http://[::1]:9/").host == "::1"
    with pytest.raises(UsageError, match="not a loopback address"):
        parse_origin("http://10.1.2.3/")
    assert parse_origin("http://10.1.2.3/", allow_remote=True).host == "10.1.2.3"
    with pytest.raises(UsageError, match="not an http"):
        parse_origin("127.0.0.1:8000")
