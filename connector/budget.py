"""The contract between the HTTP layer and whatever paces requests.

The HTTP layer holds a slot for the duration of every request it sends, and reports a
throttle when the API answers one. The engine's shared rate budget implements this; a
single `connector actions run` uses `UnlimitedBudget`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

__all__ = ["PACING_WAITS", "PacingWaits", "RequestBudget", "UnlimitedBudget", "WaitRefused"]


@dataclass(frozen=True)
class PacingWaits:
    """How the call now sending a request takes a wait inside the budget (a full window):
    a wait of `announce` seconds or more is told to `notice(seconds, why)` as it starts,
    and one longer than `limit` (retry.max_wait / --max-wait) is not waited (WaitRefused)."""

    limit: float | None
    notice: Callable[[float, str], None] | None
    announce: float


#: set by the engine around each attempt; read by a budget before it waits (no argument
#: threads through handlers and the HTTP layer)
PACING_WAITS: ContextVar[PacingWaits | None] = ContextVar("pacing_waits", default=None)


class WaitRefused(Exception):
    """A budget would have waited longer than the call accepts; nothing was counted or
    sent. Not a ConnectorError: the engine turns it into the call's Throttled error."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(f"a wait of {seconds:.1f} s ({reason})")
        self.seconds = seconds
        self.reason = reason


class RequestBudget(Protocol):
    def slot(self, method: str = "", path: str = "") -> AbstractAsyncContextManager[None]:
        """Wait until a request may be sent (pacing and concurrency); held while it runs.

        `method` and `path` (relative to the app's base URL, or absolute) name the endpoint,
        for APIs whose limits are per endpoint."""

    def throttled(self, retry_after: float | None) -> None:
        """The API throttled a request: pause every caller until the window reopens."""


class UnlimitedBudget:
    """No pacing at all."""

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        yield

    def slot(self, method: str = "", path: str = "") -> AbstractAsyncContextManager[None]:
        return self._slot()

    def throttled(self, retry_after: float | None) -> None:
        return None
