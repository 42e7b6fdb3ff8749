"""Rate limits as values: what one app+credential may send, and where each figure came from.

A `RateLimitSpec` is what a budget paces by. It is built from the app manifest's
`rate_limits` (the declared defaults), replaced by what the API itself reports for the
account when the app can tell (`rate_limits.learn`), and tightened by the user: a
workflow's `limits`, a connection's limits (the Python API) or an environment variable
(`CONNECTOR_LIMITS_<APP>`); of the figures given for one window the lowest wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from connector.catalog.models import RateLimits
from connector.errors import InvalidConfiguration

__all__ = [
    "WINDOW_FIELDS",
    "EndpointLimit",
    "RateLimitSpec",
    "limits_from_mapping",
    "parse_limits_text",
]

# The figures are the manifest model's (connector/catalog/models.py `RateLimits`), named
# here from it: a window added there is a KeyError below until the engine knows its length.
_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "month": -1.0}
#: spec field -> window length in seconds (-1: calendar month)
WINDOW_FIELDS: dict[str, float] = {
    name: _SECONDS[name.removeprefix("per_")]
    for name in RateLimits.model_fields
    if name.startswith("per_")
}
#: the figures a manifest declares and a user may lower
_SETTABLE = ("concurrency", *WINDOW_FIELDS)
_DEFAULT_WINDOWS = str(RateLimits.model_fields["windows"].default)


@dataclass(frozen=True)
class EndpointLimit:
    """Limits the API reported for one endpoint (method and path template)."""

    method: str
    #: path template relative to the app's base URL, `{name}` for a parameter
    template: str
    #: how the API names it ("POST /v4/shorten")
    label: str
    per_minute: int | None = None
    per_hour: int | None = None
    #: requests already counted against the current hour when the figures were read
    used_hour: int = 0


@dataclass(frozen=True)
class RateLimitSpec:
    """Limits for one app+credential; None means not limited.

    The figures and `windows` are the manifest's `RateLimits` (a test checks that these
    fields are exactly its figures, with its default), plus what pacing learns and is told.
    """

    concurrency: int | None = None
    per_second: int | None = None
    per_minute: int | None = None
    per_hour: int | None = None
    per_month: int | None = None
    #: how the API counts its windows: "fixed" (calendar-aligned) or "sliding"
    windows: str = _DEFAULT_WINDOWS
    #: named per-endpoint buckets (actions naming one): name -> (minute, hour)
    buckets: tuple[tuple[str, int | None, int | None], ...] = ()
    #: per-endpoint limits the API reported (they replace the app-wide minute/hour defaults)
    endpoints: tuple[EndpointLimit, ...] = ()
    #: `retry_after` values that mean "the API named no wait" (the app's error-table
    #: defaults): for these the pause ends when the shortest declared window reopens
    throttle_defaults: frozenset[float] = frozenset()
    #: figure name ("per_minute", "POST /v4/shorten per_hour") -> where it came from
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    #: read the account's own limits from the API when the app can (not for overrides)
    learn: bool = True
    #: what the user set, by source, applied again over figures learned later
    settings: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()

    @classmethod
    def from_manifest(cls, limits: Any) -> RateLimitSpec:
        """From an app manifest's `rate_limits` (a model or a dict)."""
        if limits is None:
            return cls()

        def get(name: str) -> Any:
            return limits.get(name) if isinstance(limits, dict) else getattr(limits, name, None)

        def number(name: str) -> int | None:
            value = get(name)
            return int(value) if value else None

        buckets = []
        for bucket_name, bucket in (get("buckets") or {}).items():
            pm = bucket.get("per_minute") if isinstance(bucket, dict) else bucket.per_minute
            ph = bucket.get("per_hour") if isinstance(bucket, dict) else bucket.per_hour
            buckets.append((str(bucket_name), pm, ph))
        values: dict[str, Any] = {name: number(name) for name in _SETTABLE}
        return cls(
            **values,
            buckets=tuple(buckets),
            windows=str(get("windows") or _DEFAULT_WINDOWS),
            sources=tuple((name, "manifest") for name, value in values.items() if value),
        )

    def source(self, name: str) -> str | None:
        return dict(self.sources).get(name)

    def learned(self, endpoints: tuple[EndpointLimit, ...], source: str) -> RateLimitSpec:
        """The API's own per-endpoint figures replace the app-wide minute and hour defaults
        of the manifest (they are a basic account's; the account may have more)."""
        if not endpoints:
            return self
        keep = {
            name: value
            for name, value in self.sources
            if not (name in ("per_minute", "per_hour") and value == "manifest")
        }
        dropped: dict[str, Any] = {
            n: None for n in ("per_minute", "per_hour") if self.source(n) == "manifest"
        }
        for ep in endpoints:
            for name in ("per_minute", "per_hour"):
                if getattr(ep, name):
                    keep[f"{ep.label} {name}"] = source
        spec = replace(self, endpoints=endpoints, sources=tuple(keep.items()), settings=())
        spec = replace(spec, **dropped)
        for given_by, given in self.settings:
            spec = spec.tightened(dict(given), given_by)
        return spec

    def tightened(self, given: Mapping[str, int], source: str) -> RateLimitSpec:
        """Apply user-set figures: for each window the lower of the two wins, including
        every per-endpoint figure of the same window."""
        changes: dict[str, Any] = {}
        sources = dict(self.sources)
        endpoints = list(self.endpoints)
        for name, value in given.items():
            current = getattr(self, name)
            if current is None or value < current:
                changes[name] = value
                sources[name] = source
            if name in ("per_minute", "per_hour"):
                for i, ep in enumerate(endpoints):
                    mine = getattr(ep, name)
                    if mine is None or value < mine:
                        changed: dict[str, Any] = {name: value}
                        endpoints[i] = replace(ep, **changed)
                        sources[f"{ep.label} {name}"] = source
        return replace(
            self,
            endpoints=tuple(endpoints),
            sources=tuple(sources.items()),
            settings=(*self.settings, (source, tuple(sorted(given.items())))),
            **changes,
        )


def limits_from_mapping(data: Any, where: str) -> dict[str, int]:
    """User-set limits ({per_minute: 50, ...}) checked: known names, positive integers."""
    if not isinstance(data, Mapping):
        raise InvalidConfiguration(
            f"expected a mapping of limits such as {{per_minute: 50}}, got {type(data).__name__}",
            where=where,
        )
    out: dict[str, int] = {}
    for name, value in data.items():
        if name not in _SETTABLE:
            raise InvalidConfiguration(
                f"unknown limit {name!r}; expected one of {', '.join(_SETTABLE)}",
                where=where,
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidConfiguration(
                f"{name} must be a whole number of at least 1, got {value!r}", where=where
            )
        out[str(name)] = value
    return out


def parse_limits_text(text: str, where: str) -> dict[str, int]:
    """`per_minute=50,per_hour=500` (an environment variable's form)."""
    data: dict[str, Any] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, raw = part.partition("=")
        if not sep:
            raise InvalidConfiguration(
                f"expected name=number pairs separated by commas, got {part!r}", where=where
            )
        try:
            data[name.strip()] = int(raw.strip())
        except ValueError:
            raise InvalidConfiguration(
                f"{name.strip()} must be a whole number, got {raw.strip()!r}", where=where
            ) from None
    return limits_from_mapping(data, where)
