"""Time as an injectable value, so retry and rate-limit tests never really wait."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""

    def wall(self) -> float:
        """Seconds since the epoch (for timestamps written to logs)."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)
        else:
            # Still yield, so a tight retry loop cannot starve other tasks.
            await asyncio.sleep(0)


class FakeClock:
    """A clock that advances only when something sleeps on it; records every sleep."""

    def __init__(self, start: float = 1_000_000.0, wall_start: float = 1_767_225_600.0) -> None:
        self._t = start
        self._wall_offset = wall_start - start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._t

    def wall(self) -> float:
        return self._t + self._wall_offset

    def advance(self, seconds: float) -> None:
        self._t += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self._t += seconds
        await asyncio.sleep(0)
