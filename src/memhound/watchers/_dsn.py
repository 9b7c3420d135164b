"""Connection strings with their secrets masked, for everything memhound prints or saves.

A DSN carries credentials in three places: a URL's userinfo (``redis://user:secret@host``),
its query (``?password=secret``, ``&sslpassword=``, ``&token=``) and the ``key=value`` form
libpq reads (``host=db password='it''s'``). Every one becomes ``***``; the rest (host, port,
database, user) stays, as it is what a reader needs to know which server was meant.
"""

from __future__ import annotations

import re

#: names of query and keyword parameters whose value is a secret (compared lower-case);
#: also any name ending in one of _SECRET_ENDINGS
_SECRET_KEYS = frozenset(
    {"password", "passwd", "pass", "pwd", "sslpassword", "token", "auth", "secret", "apikey"}
)
_SECRET_ENDINGS = ("password", "passwd", "token", "secret", "_key", "apikey")
_MASK = "***"

_KEYWORD = re.compile(r"(?<![\w.-])([A-Za-z_][\w.-]*)(\s*=\s*)('(?:[^'\\]|\\.|'')*'?|[^\s&;#]*)")
_HOST_AFTER_AT = re.compile(r"[\w.\-%]*(?:\[[0-9A-Fa-f:.%\w]*\])?(?::\d*)?(?:[/?#]|$)")


def is_secret_key(name: str) -> bool:
    key = name.lower()
    return key in _SECRET_KEYS or key.endswith(_SECRET_ENDINGS)


def mask_dsn(dsn: str) -> str:
    """``dsn`` with every password, token and secret replaced by ``***``."""
    text = _mask_userinfo(dsn)

    def keyword(m: re.Match[str]) -> str:
        if not is_secret_key(m.group(1)) or not m.group(3):
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}{_MASK}"

    return _KEYWORD.sub(keyword, text)


def _mask_userinfo(text: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host``. The userinfo ends at the
    last ``@`` followed by a host (a password may hold ``@``, ``/`` or ``:`` unescaped)."""
    start = text.find("://")
    if start < 0:
        return text
    rest = text[start + 3 :]
    at = -1
    for m in re.finditer("@", rest):
        if _HOST_AFTER_AT.match(rest, m.end()):
            at = m.start()
    if at < 0:
        return text
    user, sep, _ = rest[:at].partition(":")
    if not sep:
        return text  # a user name alone is not a secret
    return f"{text[: start + 3]}{user}:{_MASK}{rest[at:]}"
