"""The contract between the HTTP layer and whatever paces requests.

The HTTP layer holds a slot for the duration of every request it sends, and reports a
throttle when the API answers one. The engine's shared rate budget implements this; a
single `connector actions run` uses `UnlimitedBudget`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

__all__ = ["RequestBudget", "UnlimitedBudget"]


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
