"""Limits, fault injection and request counts shared by both sandbox servers.

The values here are the contract; `ControlsMiddleware` (same module) enforces them in
front of either app, which supplies a `Dialect` saying how its API spells a throttle, a
quota error, or a server error, and which requests are writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from starlette.responses import Response
from starlette.types import Scope

__all__ = ["Controls", "Dialect", "Faults", "Limits"]


@dataclass
class Limits:
    """Request limits; None means unlimited."""

    per_second: int | None = None
    per_minute: int | None = None
    per_hour: int | None = None
    #: endpoint key -> (per_minute, per_hour), overriding the two above for that endpoint
    per_endpoint: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    #: requests handled at once; more get throttled
    concurrency: int | None = None
    #: requests a calendar month (UTC) across all endpoints
    monthly_quota: int | None = None


@dataclass
class Faults:
    """Injected faults, drawn from a random generator seeded with `seed`."""

    #: probability of answering 500, 502 or 503 (before the request is handled)
    error_rate: float = 0.0
    #: added latency, milliseconds, before handling
    latency_ms: float = 0.0
    #: probability of cutting the connection before the request is handled
    drop_rate: float = 0.0
    #: probability, for writes, of applying the write and then cutting the connection
    lost_write_rate: float = 0.0
    seed: int = 0


@dataclass
class Controls:
    limits: Limits = field(default_factory=Limits)
    faults: Faults = field(default_factory=Faults)
    #: expose /_sandbox/controls for changing limits and faults at run time
    admin: bool = False


class Dialect(Protocol):
    """What one API's sandbox tells the controls layer."""

    def endpoint_key(self, scope: Scope) -> str | None:
        """A stable key per endpoint ("GET /v4/bitlinks/{bitlink}"); None: not limited."""

    def is_write(self, scope: Scope) -> bool:
        """Whether the request changes state (for lost-write faults)."""

    def throttled(self, reason: str, retry_after: float) -> Response:
        """The API's answer to a request over a per-second/minute/hour or concurrency limit."""

    def quota_exhausted(self) -> Response:
        """The API's answer once the monthly quota is used up."""

    def server_error(self, status: int) -> Response:
        """The API's answer for an injected 500, 502 or 503."""
