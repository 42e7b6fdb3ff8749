"""Click events shared by both sandboxes: the table, one click from one redirect, bulk insert.

A click is recorded when a sandbox redirects a short link. Everything a metrics endpoint
reports (country, city, device, browser, referrer, unique visitors) is derived here once, at
record time, so the metrics are plain SQL aggregations over the `clicks` table.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from urllib.parse import urlsplit

from connector.sandbox.geo import city_for, country_for_key
from connector.sandbox.useragent import browser_from_user_agent, device_from_user_agent

__all__ = [
    "CLICKS_DDL",
    "DIRECT",
    "Click",
    "click_from_request",
    "generate_demo_clicks",
    "hash_ip",
    "insert_clicks",
    "referring_domain_of",
]

#: Referrer and referring domain of a click that came with no (usable) Referer header.
DIRECT = "direct"

#: Run with `conn.executescript(CLICKS_DDL)`; idempotent, so a reopened --db file keeps its clicks.
#: The (link_key, ts) index serves every metrics query: a link set and a time window.
CLICKS_DDL = """
CREATE TABLE IF NOT EXISTS clicks (
    id INTEGER PRIMARY KEY,
    link_key TEXT NOT NULL,
    ts REAL NOT NULL,
    country TEXT NOT NULL,
    city TEXT NOT NULL,
    region TEXT NOT NULL,
    subregion TEXT NOT NULL,
    device TEXT NOT NULL,
    browser TEXT NOT NULL,
    referrer TEXT NOT NULL,
    referring_domain TEXT NOT NULL,
    ip_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS clicks_link_ts ON clicks (link_key, ts);
"""

# A stored referrer is capped: it is echoed by metrics and must not let one request bloat the db.
_MAX_REFERRER = 2048
_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")


@dataclass(frozen=True)
class Click:
    """One recorded redirect. `ts` is epoch seconds (UTC); `ip_hash` is never the raw address."""

    link_key: str
    ts: float
    country: str
    city: str
    region: str
    subregion: str
    device: str
    browser: str
    referrer: str
    referring_domain: str
    ip_hash: str


_COLUMNS = tuple(f.name for f in fields(Click))
_ROW = attrgetter(*_COLUMNS)
_INSERT_SQL = (
    f"INSERT INTO clicks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


def hash_ip(client_ip: str | None) -> str:
    """sha256 hex of the client address; an unknown address hashes as the empty string."""
    return hashlib.sha256((client_ip or "").encode("utf-8", "replace")).hexdigest()


def referring_domain_of(referrer: str) -> str:
    """Host of a referrer URL, lower-cased, without port or a leading "www."; DIRECT if none."""
    if referrer == DIRECT:
        return DIRECT
    try:
        host = urlsplit(referrer).hostname or ""
    except ValueError:
        host = ""
    host = host.strip(".")
    if host.startswith("www."):
        host = host[4:]
    return host or DIRECT


def _clean_referrer(value: str | None) -> str:
    """The Referer as stored: the full URL when it is an absolute http(s) URL, else DIRECT."""
    value = (value or "").strip()
    if not value:
        return DIRECT
    try:
        parts = urlsplit(value)
    except ValueError:
        return DIRECT
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        # Apps and e-mail clients send no Referer or a non-web one; analytics call that direct.
        return DIRECT
    return value[:_MAX_REFERRER]


def click_from_request(
    link_key: str, headers: Mapping[str, str], client_ip: str | None, ts: float
) -> Click:
    """Derive a click from a redirect request.

    Country: the `X-Country` header when it is two letters (upper-cased), else a deterministic
    pick from the client address. City/region follow from the country and address. Device and
    browser come from User-Agent; referrer from Referer (DIRECT when absent).
    `headers` may be any mapping (Starlette's case-insensitive Headers or a plain dict).
    """
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    address_key = client_ip or ""
    header_country = lowered.get("x-country", "").strip()
    if _COUNTRY_RE.match(header_country):
        country = header_country.upper()
    else:
        country = country_for_key(address_key)
    city, subregion, region = city_for(country, address_key)
    user_agent = lowered.get("user-agent")
    referrer = _clean_referrer(lowered.get("referer"))
    return Click(
        link_key=link_key,
        ts=float(ts),
        country=country,
        city=city,
        region=region,
        subregion=subregion,
        device=device_from_user_agent(user_agent),
        browser=browser_from_user_agent(user_agent),
        referrer=referrer,
        referring_domain=referring_domain_of(referrer),
        ip_hash=hash_ip(client_ip),
    )


def insert_clicks(conn: sqlite3.Connection, clicks: Iterable[Click]) -> None:
    """Insert clicks in one executemany; the caller owns the transaction (commit)."""
    conn.executemany(_INSERT_SQL, map(_ROW, clicks))


# The two below live in their own modules (which import Click from here); these wrappers keep
# the whole clicks interface importable from this one module without an import cycle.


def generate_demo_clicks(
    seed: int, links: Sequence[tuple[str, float]], now: float, days: int = 90
) -> list[Click]:
    """Demo clicks on `links` ((link_key, created_ts)) over the `days` before `now`; see
    connector.sandbox.demo_clicks. The same seed gives the same clicks."""
    from connector.sandbox.demo_clicks import generate_demo_clicks as generate

    return generate(seed, links, now, days)
