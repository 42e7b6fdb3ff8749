"""Which declared endpoint a request goes to, for per-endpoint rate limits.

The API reports limits per path template (`/bitlinks/{bitlink}/clicks`); the HTTP layer
knows the filled-in path (`bitlinks/bit.ly/abc/clicks`). Templates are compiled once; a
request is matched against the templates of its method that share its first segment, the
most literal first. `{name:2}` marks a parameter whose value spans two path segments (a
Bitly bitlink is `domain/hash`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["EndpointMatcher"]

_PARAM = re.compile(r"\{([^{}/:]+)(?::(\d))?\}")
_CACHE_SIZE = 4096


class EndpointMatcher:
    def __init__(self, endpoints: Iterable[tuple[str, str, str]]) -> None:
        """`endpoints`: (key, method, template relative to the base URL)."""
        self._by_head: dict[tuple[str, str], list[tuple[int, re.Pattern[str], str]]] = {}
        for key, method, template in endpoints:
            path = template.strip("/")
            parts = []
            last = 0
            for m in _PARAM.finditer(path):
                parts.append(re.escape(path[last : m.start()]))
                segments = int(m.group(2) or 1)
                parts.append("[^/]+" + "/[^/]+" * (segments - 1))
                last = m.end()
            parts.append(re.escape(path[last:]))
            literal = len(_PARAM.sub("", path))
            head = path.split("/", 1)[0]
            self._by_head.setdefault((method.upper(), head), []).append(
                (literal, re.compile("".join(parts)), key)
            )
        for candidates in self._by_head.values():
            candidates.sort(key=lambda c: -c[0])
        self._cache: dict[tuple[str, str], str | None] = {}

    def match(self, method: str, path: str) -> str | None:
        """The key of the endpoint `path` (relative to the base, no query) belongs to."""
        cached = self._cache.get((method, path), self)
        if cached is not self:
            return cached  # type: ignore[return-value]
        bare = path.split("?", 1)[0].strip("/")
        found = None
        for _, pattern, key in self._by_head.get((method.upper(), bare.split("/", 1)[0]), ()):
            if pattern.fullmatch(bare):
                found = key
                break
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[(method, path)] = found
        return found
