"""One rate budget per app and credential, shared by every concurrent call in the process.

It implements `connector.budget.RequestBudget`: the HTTP layer holds a `slot()` around each
request and calls `throttled()` when the API answers with a throttle.

Pacing is a GCRA (generic cell rate algorithm) per declared window: each window lets a small
burst through and then spaces requests evenly, so the budget slows down *before* the API
answers 429/403 instead of after. The burst is taken out of the steady rate, so no sliding
window of the declared length ever holds more than the declared number of requests. A
throttle sets one shared resume time for everyone and re-spaces the shortest window from
it, so waiting callers do not all fire the moment the window reopens.

How long a throttle pauses: the API's own wait when it names one (Retry-After). Bitly names
none (a 403 RATE_LIMIT_EXCEEDED), and the HTTP layer then fills in the error table's
`retry_after_default` (60 s), an upper bound for a per-minute window. Those defaults are
listed in the spec's `throttle_defaults`; for them the budget waits only until the next
boundary of the shortest declared window (clock-aligned, plus a small margin for clock
skew), never longer than the default. A window that has not in fact reopened (a rolling
window, a skewed clock) answers the next request with another throttle, and the next pause
again lasts at most one window, so a guess that is too short costs one request, not a flood.

With no declared window there is no boundary to wait for, and the default (Bitly's 60 s) is
only an upper bound: a 20/s limit would stall every caller a minute per throttle. The pause
is then adaptive: it starts at `ADAPTIVE_START` and doubles on each consecutive throttle (a
throttle of a request sent after the last pause began, with no clean answer since), capped at
the default; a clean answer resets it. Throttles of requests sent *before* the pause began
are the same burst, not evidence that the pause was too short: they neither extend nor grow it.

Re-spacing on resume: a declared window is restarted from the resume time (above). With no
window to space by, the first waiter in arrival order goes alone as a probe and the others
wait for its answer: a clean one lets them all go, a throttle starts the next (longer) pause,
and the next waiter in line probes after it. So a closed window costs one request per pause,
and no item is the probe twice while others wait (it rejoins the back of the line).
The HTTP layer reports a throttle right after its slot closes, before it yields to the event
loop (connector/http/client.py); waiters woken by the probe's answer run only after that, so
they see the new pause.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import weakref
from collections import deque
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from connector.catalog.models import RateLimits
from connector.clock import Clock, SystemClock

__all__ = ["BudgetRegistry", "RateBudget", "RateLimitSpec"]

#: Pause when the API throttles without saying for how long.
DEFAULT_THROTTLE_PAUSE = 1.0
#: First adaptive pause (no wait named, no declared window); doubles on consecutive throttles.
ADAPTIVE_START = 0.5
ADAPTIVE_GROWTH = 2.0


@dataclass
class _Admission:
    """One request let through by a budget: what a later `throttled()` report refers to."""

    budget: int  # id() of the budget (not a reference: the context must not keep it alive)
    epoch: int  # the budget's pause epoch when the request was sent
    probe: bool  # sent alone after a pause with no declared window
    clean: bool = False  # counted as a clean answer when its slot closed
    reported: bool = False  # a throttle was reported for it


#: The admission of the current task's latest request: the HTTP layer calls `throttled()`
#: after the slot closes, in the same task, and the budget reads it from here.
_ADMISSION: ContextVar[_Admission | None] = ContextVar("rate_budget_admission", default=None)


class RateLimitSpec(RateLimits):
    """Limits for one app+credential (the manifest's `rate_limits` shape); None means not
    limited."""

    #: `retry_after` values that mean "the API named no wait" (the app's error-table
    #: defaults): for these the pause ends when the shortest declared window reopens
    throttle_defaults: frozenset[float] = frozenset()

    @classmethod
    def from_manifest(cls, limits: Any) -> RateLimitSpec:
        """From an app manifest's `rate_limits` (the model, or a mapping of its fields)."""
        if limits is None:
            return cls()
        if isinstance(limits, RateLimits):
            return cls.model_validate(limits.model_dump(exclude_none=True))
        return cls.model_validate(limits if isinstance(limits, dict) else vars(limits))


class _Window:
    """GCRA for `limit` requests per `seconds`."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.seconds = seconds
        # Long windows let half their budget through at once (short runs finish at once),
        # then pace the rest; a per-second window stays near its full steady rate.
        share = 0.05 if seconds <= 1.0 else 0.5
        self.burst = max(1, math.ceil(limit * share))
        steady = max(1, limit - self.burst + 1)
        self.interval = seconds / steady
        self.tolerance = (self.burst - 1) * self.interval
        self.tat = -math.inf  # theoretical arrival time of the next request

    def earliest(self, now: float) -> float:
        return max(now, self.tat - self.tolerance)

    def commit(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.interval

    def respace_from(self, resume_at: float) -> None:
        # After a throttle, let one request through at resume time and space the rest.
        self.tat = max(self.tat, resume_at + self.tolerance)


class _Slot:
    """One request's turn: a place under the concurrency cap, then its paced admission.

    A class rather than an @asynccontextmanager: it is entered once per request, and the
    generator machinery cost more than the bookkeeping. The admission is set in the task's
    context, where `throttled()` reads it after the slot has closed.
    """

    __slots__ = ("_admission", "_budget")

    def __init__(self, budget: RateBudget) -> None:
        self._budget = budget
        self._admission: _Admission | None = None

    async def __aenter__(self) -> None:
        budget = self._budget
        semaphore = budget._semaphore
        if semaphore is not None:
            await semaphore.acquire()
        try:
            admission = await budget._pace()
        except BaseException:
            if semaphore is not None:
                semaphore.release()
            raise
        _ADMISSION.set(admission)
        budget.in_flight += 1
        budget.sent += 1
        self._admission = admission

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        budget = self._budget
        admission = self._admission
        self._admission = None
        try:
            budget.in_flight -= 1
            if admission is not None:
                # clean: the request's body finished without raising
                budget._answered(admission, exc_type is None)
        finally:
            if budget._semaphore is not None:
                budget._semaphore.release()


class RateBudget:
    """Concurrency cap + smooth pacing + shared throttle pause, on an injectable clock."""

    def __init__(
        self,
        spec: RateLimitSpec,
        *,
        clock: Clock | None = None,
        name: str = "",
        throttle_pause: float = DEFAULT_THROTTLE_PAUSE,
    ) -> None:
        self.spec = spec
        self.name = name
        self.clock: Clock = clock or SystemClock()
        self.throttle_pause = throttle_pause
        self._semaphore = asyncio.Semaphore(spec.concurrency) if spec.concurrency else None
        self._windows = [
            _Window(limit, seconds)
            for limit, seconds in (
                (spec.per_second, 1.0),
                (spec.per_minute, 60.0),
                (spec.per_hour, 3600.0),
            )
            if limit
        ]
        self._buckets = {
            name: [
                _Window(limit, secs)
                for limit, secs in ((bucket.per_minute, 60.0), (bucket.per_hour, 3600.0))
                if limit
            ]
            for name, bucket in spec.buckets.items()
        }
        self.resume_at = -math.inf
        #: bumped on every throttle, so a caller who slept through one re-reserves
        self._epoch = 0
        #: the adaptive pause in force (0: none since the last clean answer)
        self._adaptive = 0.0
        #: clean answers to requests sent in the current epoch
        self._clean = 0
        #: after a pause with no declared window: callers go through the probe line
        self._gated = False
        self._probe_out = False
        self._line: deque[object] = deque()
        self._line_changed = asyncio.Event()
        #: counters for progress and benchmarks
        self.throttles = 0
        self.sent = 0
        self.in_flight = 0

    @property
    def concurrency(self) -> int | None:
        return self.spec.concurrency

    def slot(self) -> AbstractAsyncContextManager[None]:
        return _Slot(self)

    async def _pace(self) -> _Admission:
        while True:
            probe = await self._through_line() if self._gated else False
            now = self.clock.now()
            at = max([now, self.resume_at, *(w.earliest(now) for w in self._windows)])
            for window in self._windows:
                window.commit(at)
            epoch = self._epoch
            if at > now:
                await self.clock.sleep(at - now)
            if self._epoch == epoch or self.clock.now() >= self.resume_at:
                return _Admission(id(self), self._epoch, probe)
            # A throttle arrived while we slept: our reservation predates the pause.
            if probe:
                self._probe_out = False
                self._line_moved()

    async def _through_line(self) -> bool:
        """Wait for a turn after a pause with no declared window: True for the probe, False
        once a probe has been answered cleanly (everyone goes)."""
        me = object()
        self._line.append(me)
        try:
            while self._gated:
                if self._line[0] is me and not self._probe_out:
                    wait = self.resume_at - self.clock.now()
                    if wait > 0:
                        await self.clock.sleep(wait)
                        continue  # the pause may have been extended meanwhile
                    self._probe_out = True
                    return True
                changed = self._line_changed
                await changed.wait()
            return False
        finally:
            self._line.remove(me)
            self._line_moved()

    def _line_moved(self) -> None:
        # Wake every waiter of the line to look again (an Event per change, never reset).
        self._line_changed.set()
        self._line_changed = asyncio.Event()

    def _answered(self, admission: _Admission, clean: bool) -> None:
        """A request's slot closed; `clean` unless the transport failed. A throttle, if it
        was one, is reported right after (and undoes the clean count)."""
        if clean and admission.epoch == self._epoch:
            admission.clean = True
            self._clean += 1
        if admission.probe:
            self._probe_out = False
            if clean:
                self._gated = False  # closed again at once if a throttle is reported now
            self._line_moved()

    async def pace_bucket(self, name: str, cost: int = 1) -> None:
        """Wait until an action of the named endpoint bucket may go (cost: requests it makes)."""
        windows = self._buckets.get(name)
        if not windows:
            return
        now = self.clock.now()
        at = max([now, *(w.earliest(now) for w in windows)])
        for window in windows:
            for _ in range(max(1, cost)):
                window.commit(at)
        if at > now:
            await self.clock.sleep(at - now)

    def _named(self, retry_after: float | None) -> float | None:
        return float(retry_after) if retry_after is not None and retry_after > 0 else None

    def _adaptive_case(self, retry_after: float | None) -> bool:
        """No wait named by the API (absent, or an error-table default) and no window."""
        named = self._named(retry_after)
        hinted = named is not None and named not in self.spec.throttle_defaults
        return not hinted and not self._windows

    def _adaptive_cap(self, retry_after: float | None) -> float:
        return self._named(retry_after) or self.throttle_pause

    def pause_for(self, retry_after: float | None) -> float:
        """Seconds a throttle with this `retry_after` pauses everyone (see the module doc).

        For the adaptive case: the pause in force (the latest throttle's), or the first step.
        """
        named = self._named(retry_after)
        if named is not None and named not in self.spec.throttle_defaults:
            return named
        if not self._windows:
            return min(self._adaptive or ADAPTIVE_START, self._adaptive_cap(retry_after))
        period = self._windows[0].seconds
        # Fixed windows aligned on the clock reopen at the next multiple of their length.
        reopen = period - self.clock.wall() % period + min(1.0, 0.02 * period)
        return reopen if named is None else min(reopen, named)

    def pause_left(self) -> float:
        """Seconds until the current shared throttle pause ends (0 when none)."""
        return max(0.0, self.resume_at - self.clock.now())

    def throttled(self, retry_after: float | None) -> None:
        self.throttles += 1
        admission = _ADMISSION.get()
        if admission is not None and (admission.budget != id(self) or admission.reported):
            admission = None  # not a report about a request of ours (a direct call)
        if admission is not None:
            admission.reported = True
            if admission.clean:
                admission.clean = False
                self._clean -= 1
        if self._adaptive_case(retry_after):
            if admission is not None and admission.epoch != self._epoch:
                # Sent before the current pause began: the same burst, already covered.
                return
            cap = self._adaptive_cap(retry_after)
            if self._adaptive and self._clean <= 0:
                pause = min(cap, self._adaptive * ADAPTIVE_GROWTH)
            else:
                pause = min(cap, ADAPTIVE_START)
            self._adaptive = pause
        else:
            pause = self.pause_for(retry_after)
        resume = self.clock.now() + pause
        if resume > self.resume_at:
            self.resume_at = resume
            self._epoch += 1
            self._clean = 0
            # Only the shortest window restarts from the resume time: requests then go one
            # by one at its steady rate. Re-spacing an hourly window too would drop the
            # rate to the hourly steady rate for the next hour after a per-minute throttle.
            if self._windows:
                self._windows[0].respace_from(resume)
            else:
                # Nothing to space by: resume through the probe line.
                self._gated = True
                self._line_moved()


class BudgetRegistry:
    """Budgets by (app, credential): every runner in one process shares the same ones.

    A credential is held only as a hash: the registry must not become a place secrets live.
    Budgets are bound to the event loop that created them (asyncio primitives are).
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        # Per event loop, held weakly: a finished loop's budgets go with it, and a new loop
        # that happens to get the old one's id() never inherits them.
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, str, RateLimitSpec], RateBudget]
        ] = weakref.WeakKeyDictionary()
        self._no_loop: dict[tuple[str, str, RateLimitSpec], RateBudget] = {}

    def get(self, app: str, credential: str | None, spec: RateLimitSpec) -> RateBudget:
        digest = hashlib.sha256((credential or "").encode()).hexdigest()[:16]
        try:
            budgets = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        except RuntimeError:
            budgets = self._no_loop
        # The spec is part of the key: a session that overrides the limits must not be
        # handed a budget built with other limits.
        key = (app, digest, spec)
        budget = budgets.get(key)
        if budget is None:
            budget = budgets[key] = RateBudget(spec, clock=self.clock, name=app)
        return budget
