"""Bitly's value formats: timestamps, ids, URLs."""

from __future__ import annotations

import hashlib
import re
import time
from urllib.parse import urlsplit

__all__ = ["bitly_time", "derived_token", "is_valid_hash", "long_url_problem"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HASH_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DOMAIN_RE = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+"
)


def bitly_time(ts: float) -> str:
    """`2020-02-03T12:06:17+0000`: UTC, offset without a colon, as Bitly writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(ts))


def derived_token(salt: str, length: int) -> str:
    """A base62 token that depends only on `salt`, so a seeded sandbox replays the same ids."""
    number = int.from_bytes(hashlib.sha256(salt.encode()).digest()[:16], "big")
    out = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        out.append(_BASE62[digit])
    return "".join(out)


def is_valid_hash(value: str) -> bool:
    """A back-half: letters, digits, `-` and `_` only."""
    return _HASH_RE.fullmatch(value) is not None


def is_valid_domain(value: str) -> bool:
    return _DOMAIN_RE.fullmatch(value) is not None


def long_url_problem(url: str) -> str | None:
    """Why `url` cannot be shortened, or None when it can."""
    if len(url) > 2048:
        return "must be at most 2048 characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        return "must not contain control characters"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname or " " in url:
        return "must be an absolute URL with a host name"
    return None
