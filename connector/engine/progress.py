"""Progress reporting: a live bar on a terminal, plain lines otherwise, nothing in tests."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

__all__ = [
    "BarProgress",
    "LineProgress",
    "NullProgress",
    "Progress",
    "WaitsOnly",
    "for_stream",
]


class Progress(Protocol):
    def step_started(self, step_id: str, kind: str, total: int | None = None) -> None: ...

    def item_finished(self, step_id: str, ok: bool) -> None: ...

    def step_finished(self, step_id: str, status: str, detail: str = "") -> None: ...

    def waiting(self, where: str, seconds: float, reason: str) -> None:
        """A long wait before a retry starts (never waited silently)."""


class NullProgress:
    def step_started(self, step_id: str, kind: str, total: int | None = None) -> None:
        return None

    def item_finished(self, step_id: str, ok: bool) -> None:
        return None

    def step_finished(self, step_id: str, status: str, detail: str = "") -> None:
        return None

    def waiting(self, where: str, seconds: float, reason: str) -> None:
        return None


def _wait_line(where: str, seconds: float, reason: str) -> str:
    minutes = f" ({seconds / 60:,.0f} min)" if seconds >= 120 else ""
    return (
        f"{where}: waiting {seconds:,.0f} s{minutes} before retrying: {reason}"
        " (retry.max_wait or --max-wait sets the longest wait accepted)"
    )


class _Counting:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.total = 0
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()

    def _reset(self, total: int | None) -> None:
        self.total = total or 0
        self.done = self.failed = 0
        self.started = time.monotonic()

    def _rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


class LineProgress(_Counting):
    """One line per step, and a loop line at every tenth of its items (logs, pipes, CI)."""

    def step_started(self, step_id: str, kind: str, total: int | None = None) -> None:
        self._reset(total)
        extra = f" ({total} items)" if total is not None else ""
        print(f"step {step_id}: started{extra}", file=self.stream, flush=True)

    def item_finished(self, step_id: str, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        tenth = max(1, self.total // 10)
        if self.done % tenth == 0 or self.done == self.total:
            print(
                f"step {step_id}: {self.done}/{self.total} items, {self.failed} failed,"
                f" {self._rate():.1f}/s",
                file=self.stream,
                flush=True,
            )

    def step_finished(self, step_id: str, status: str, detail: str = "") -> None:
        print(f"step {step_id}: {status}{' ' + detail if detail else ''}", file=self.stream)

    def waiting(self, where: str, seconds: float, reason: str) -> None:
        print(_wait_line(where, seconds, reason), file=self.stream, flush=True)


class BarProgress(_Counting):
    """A bar redrawn in place: items done, failed, rate."""

    width = 30

    def step_started(self, step_id: str, kind: str, total: int | None = None) -> None:
        self._reset(total)
        self._step = step_id
        self._last = 0.0
        if total is None:
            self.stream.write(f"  {step_id} ...")
            self.stream.flush()

    def item_finished(self, step_id: str, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        now = time.monotonic()
        if now - self._last > 0.1 or self.done == self.total:
            self._last = now
            filled = int(self.width * self.done / self.total) if self.total else self.width
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(
                f"\r  {step_id} [{bar}] {self.done}/{self.total}"
                f"  failed {self.failed}  {self._rate():.1f}/s "
            )
            self.stream.flush()

    def step_finished(self, step_id: str, status: str, detail: str = "") -> None:
        self.stream.write(f"\r\x1b[K  {step_id}: {status}{' ' + detail if detail else ''}\n")
        self.stream.flush()

    def waiting(self, where: str, seconds: float, reason: str) -> None:
        self.stream.write(f"\r\x1b[K  {_wait_line(where, seconds, reason)}\n")
        self.stream.flush()


class WaitsOnly(NullProgress):
    """No progress lines (`--json`), but a long wait is still announced: never silent."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def waiting(self, where: str, seconds: float, reason: str) -> None:
        print(_wait_line(where, seconds, reason), file=self.stream, flush=True)


def for_stream(stream: TextIO = sys.stderr, *, quiet: bool = False) -> Progress:
    if quiet:
        return WaitsOnly(stream)
    return BarProgress(stream) if stream.isatty() else LineProgress(stream)
