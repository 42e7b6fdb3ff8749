"""One rate budget per app and credential, shared by every concurrent call in the process.

It implements `connector.budget.RequestBudget`: the HTTP layer holds a `slot()` around each
request (naming its method and path) and calls `throttled()` when the API answers with a
throttle.

Pacing counts every declared window (per second, minute, hour, calendar month; app-wide,
per named bucket, and per endpoint when the API reported its own limits) on the wall clock
(connector/engine/rate_windows.py): a request goes at the first instant at which every
window it counts against has room. So a window's whole allowance goes as early as the
window allows it (at once, under the concurrency cap), and the next request waits for the
window to reopen: on fixed windows the next boundary plus a small margin, on sliding ones
the moment the oldest request of the window ages out plus that margin. A month window that
is used up raises QuotaExhausted instead of waiting weeks.

A throttle that the count did not predict means the server's windows are not aligned with
ours (or someone else uses the same token): the windows the throttled request counted
against turn sliding, which is safe under any alignment, the learned figures are marked
stale (`stale`), and everyone pauses. How long: the API's own wait when it names one
(Retry-After). Bitly names none (a 403 RATE_LIMIT_EXCEEDED), and the HTTP layer then fills
in the error table's `retry_after_default` (60 s), an upper bound for a per-minute window.
Those defaults are listed in the spec's `throttle_defaults`; for them the budget waits
until the shortest window reopens (its count, or at least the next clock-aligned boundary
plus a small margin for clock skew), never longer than the default.

With no declared window there is no boundary to wait for, and the default (Bitly's 60 s) is
only an upper bound: a 20/s limit would stall every caller a minute per throttle. The pause
is then adaptive: it starts at `ADAPTIVE_START` and doubles on each consecutive throttle (a
throttle of a request sent after the last pause began, with no clean answer since), capped at
the default; a clean answer resets it. Throttles of requests sent *before* the pause began
are the same burst, not evidence that the pause was too short: they neither extend nor grow it.

Resuming after a pause: the first waiter in arrival order goes alone as a probe and the
others wait for its answer: a clean one lets them all go, a throttle starts the next pause,
and the next waiter in line probes after it. So a window that is still closed costs one
request per pause, and no item is the probe twice while others wait (it rejoins the back of
the line). The HTTP layer reports a throttle right after its slot closes, before it yields
to the event loop (connector/http/client.py); waiters woken by the probe's answer run only
after that, so they see the new pause.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import weakref
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType

from connector.budget import PACING_WAITS, WaitRefused
from connector.clock import Clock, SystemClock
from connector.engine.endpoint_match import EndpointMatcher
from connector.engine.rate_limits import WINDOW_FIELDS, RateLimitSpec
from connector.engine.rate_windows import APP_LIMIT, MONTH, RateWindow
from connector.engine.run_limits import RUN_LIMITS
from connector.errors import QuotaExhausted

__all__ = ["BudgetRegistry", "RateBudget", "RateLimitSpec", "first_fit"]

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
    probe: bool  # sent alone after a pause
    windows: list[RateWindow]  # the windows it was counted against
    clean: bool = False  # counted as a clean answer when its slot closed
    reported: bool = False  # a throttle was reported for it


#: The admission of the current task's latest request: the HTTP layer calls `throttled()`
#: after the slot closes, in the same task, and the budget reads it from here.
_ADMISSION: ContextVar[_Admission | None] = ContextVar("rate_budget_admission", default=None)


class _Slot:
    """One request's turn: a place under the concurrency cap, then its paced admission.

    A class rather than an @asynccontextmanager: it is entered once per request, and the
    generator machinery cost more than the bookkeeping. The admission is set in the task's
    context, where `throttled()` reads it after the slot has closed.
    """

    __slots__ = ("_admission", "_budget", "_method", "_path")

    def __init__(self, budget: RateBudget, method: str, path: str) -> None:
        self._budget = budget
        self._method = method
        self._path = path
        self._admission: _Admission | None = None

    async def __aenter__(self) -> None:
        budget = self._budget
        run = RUN_LIMITS.get()
        own = run.windows.get(budget) if run is not None else None
        # A wait for the run's own windows is waited before taking a connection: the
        # app's concurrency is every run's, and a run held back by its own limits must not
        # hold it meanwhile. Counted while waited (no other request of the run takes the
        # room), then counted again with the app's windows, from when it really goes.
        held = await budget._hold_room(own) if own else None
        semaphore = budget._semaphore
        try:
            if semaphore is not None:
                await semaphore.acquire()
        except BaseException:
            budget._unhold(own, held)
            raise
        try:
            budget._unhold(own, held)
            admission = await budget._pace(self._method, self._path, own)
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


def _before_waiting(seconds: float, windows: list[RateWindow], wall: float) -> None:
    """Tell the sending call of a wait for a full window (connector.budget.PacingWaits):
    refused (WaitRefused, nothing counted yet) past its limit, announced from its threshold."""
    waits = PACING_WAITS.get()
    if waits is None:
        return
    if waits.limit is None and (waits.notice is None or seconds < waits.announce):
        return
    full = [w for w in windows if w.earliest(wall) > wall]
    widest = max(full or windows, key=lambda w: w.earliest(wall))
    reason = f"{widest.owner}, {widest.limit:,} requests per {widest.name}"
    if waits.limit is not None and seconds > waits.limit:
        raise WaitRefused(seconds, reason)
    if waits.notice is not None and seconds >= waits.announce:
        waits.notice(seconds, reason)


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
        self._windows: list[RateWindow] = []
        self._buckets: dict[str, list[RateWindow]] = {}
        self._endpoints: dict[str, list[RateWindow]] = {}
        #: endpoint -> the app's windows and its own: what a request to it counts against
        self._with_endpoint: dict[str, list[RateWindow]] = {}
        self._matcher: EndpointMatcher | None = None
        #: bumped whenever the windows are rebuilt (new figures: `apply`)
        self._generation = 0
        #: the API's figures turned out wrong (a throttle the count did not predict)
        self.stale = False
        #: when the account's own limits were last read (clock.now()), None: never
        self.learned_at: float | None = None
        #: held while they are read (connector.engine.limits)
        self.learning = asyncio.Lock()
        self._build(spec)
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

    def _build(self, spec: RateLimitSpec) -> None:
        self._generation += 1
        sliding = spec.windows != "fixed"

        def windows(**limits: int | None) -> list[RateWindow]:
            return [
                RateWindow(limit, WINDOW_FIELDS[name], sliding=sliding)
                for name, limit in limits.items()
                if limit
            ]

        self._windows = windows(
            per_second=spec.per_second,
            per_minute=spec.per_minute,
            per_hour=spec.per_hour,
            per_month=spec.per_month,
        )
        self._buckets = {name: windows(per_minute=pm, per_hour=ph) for name, pm, ph in spec.buckets}
        wall = self.clock.wall()
        self._endpoints = {}
        for ep in spec.endpoints:
            ws = windows(per_minute=ep.per_minute, per_hour=ep.per_hour)
            for window in ws:
                # Already used this hour, by this or another client: its times are unknown,
                # so it is counted as just now (at most a shorter window's wait too much).
                window.used(ep.used_hour, wall)
            self._endpoints[ep.label] = ws
        self._with_endpoint = {key: self._windows + ws for key, ws in self._endpoints.items()}
        self._matcher = (
            EndpointMatcher((ep.label, ep.method, ep.template) for ep in spec.endpoints)
            if spec.endpoints
            else None
        )

    def apply(self, spec: RateLimitSpec) -> None:
        """Pace by new figures (learned from the API, or refreshed). What this budget
        already sent stays counted, and a window found not to be aligned stays sliding.

        Requests still waiting for the instant they reserved (in `_pace`) are not carried
        over: each sees the rebuild when it wakes and is counted again in the windows in
        force then, by its endpoint (the old ones may have no counterpart: app-wide
        figures replaced by per-endpoint ones)."""
        old = self._keyed()
        self.spec = spec
        self._build(spec)
        sent_by = self.clock.wall()
        for key, window in self._keyed().items():
            before = old.get(key)
            if before is None:
                continue
            if before.sliding:
                window.to_sliding()
            # The API's count (taken as "just now") already holds our sends: ours are
            # added only where it reported none. A bucket's reservations are all carried:
            # `pace_bucket` does not reserve again.
            newest = window.log[-1] if window.log else -math.inf
            until = math.inf if key[0] == "bucket" else sent_by
            for sent in before.log:
                if newest < sent <= until:
                    window.commit(sent)
        self.stale = False

    def _keyed(self) -> dict[tuple[str, str, float], RateWindow]:
        """The windows by what they count (app-wide, a bucket, an endpoint) and length."""
        keyed = {("app", "", w.seconds): w for w in self._windows}
        for name, ws in self._buckets.items():
            keyed.update({("bucket", name, w.seconds): w for w in ws})
        for label, ws in self._endpoints.items():
            keyed.update({("endpoint", label, w.seconds): w for w in ws})
        return keyed

    def forget_run(self, run_id: str) -> None:
        """The run ended. Its own windows are its `RunLimits`' (run_limits.py), which go
        with them here; a shared budget also removes them from its tables."""

    def slot(self, method: str = "", path: str = "") -> AbstractAsyncContextManager[None]:
        """A request's turn; `method` and `path` (relative to the app's base URL) select the
        endpoint's own windows when the API reported per-endpoint limits."""
        return _Slot(self, method, path)

    def _windows_for(self, method: str, path: str) -> list[RateWindow]:
        if self._matcher is None or not method:
            return self._windows
        key = self._matcher.match(method, path)
        if key is None:
            return self._windows
        return self._with_endpoint[key]

    def _chooser(
        self, method: str, path: str, own: list[RateWindow] | None = None
    ) -> Callable[[], list[RateWindow]]:
        """How a request's windows are chosen, at each of its reservations: by its endpoint
        among the windows in force then, plus its run's `own` (a workflow's `limits` on an
        engine serving many runs: connector/engine/run_limits.py)."""
        if own:
            return lambda: self._windows_for(method, path) + own
        return lambda: self._windows_for(method, path)

    async def _hold_room(self, own: list[RateWindow]) -> float:
        """Wait until the run's `own` windows have room, counted in them meanwhile; the
        wall time it is counted at (`_unhold` withdraws it)."""
        now = self.clock.now()
        shift = self.clock.wall() - now
        start = now + shift
        self._check_month(own, start)
        for window in own:
            window.forget(start)
        wall = first_fit(own, start)
        if wall > start:
            _before_waiting(wall - start, own, start)
        for window in own:
            window.commit(wall)
        if wall > start:
            try:
                await self.clock.sleep(wall - start)
            except BaseException:
                self._unhold(own, wall)
                raise
        return wall

    @staticmethod
    def _unhold(own: list[RateWindow] | None, held: float | None) -> None:
        if own and held is not None:
            for window in own:
                window.release(held)

    async def _pace(self, method: str, path: str, own: list[RateWindow] | None) -> _Admission:
        """Wait for the request's turn, counted in its windows (chosen again at each of
        its reservations: `_chooser`)."""
        while True:
            probe = await self._through_line() if self._gated else False
            now = self.clock.now()
            at = max(now, self.resume_at)
            windows = self._windows_for(method, path)
            if own:
                windows = windows + own
            wall = -math.inf
            if windows:
                at, wall = self._reserve(windows, now, at)
            epoch, generation = self._epoch, self._generation
            if at > now:
                await self.clock.sleep(at - now)
            if self._generation != generation:
                # New figures while we slept (`apply`): the reservation is withdrawn and
                # made again in the windows in force now, which did not carry it over.
                for window in windows:
                    window.release(wall)
            elif self._epoch == epoch or self.clock.now() >= self.resume_at:
                return _Admission(id(self), self._epoch, probe, windows)
            # else a throttle arrived while we slept: our reservation predates the pause
            # (it stays counted: the safe side).
            if probe:
                self._probe_out = False
                self._line_moved()

    def _reserve(self, windows: list[RateWindow], now: float, at: float) -> tuple[float, float]:
        """Count a request in `windows` at the first instant from `at` they all have room;
        returns that instant (monotonic), and the wall time it is counted at. The windows
        count on the wall clock."""
        shift = self.clock.wall() - now
        start = at + shift
        self._check_month(windows, now + shift)
        for window in windows:
            window.forget(now + shift)
        wall = first_fit(windows, start)
        if wall > start:
            _before_waiting(wall - shift - now, windows, start)
        for window in windows:
            window.commit(wall)
        # Unchanged unless a window asked for later (no float round trip through the shift).
        return (at if wall == start else wall - shift), wall

    def _check_month(self, windows: list[RateWindow], wall: float) -> None:
        for window in windows:
            if window.seconds == MONTH and window.earliest(wall) > wall:  # used up
                reopens = time.strftime("%Y-%m-%d", time.gmtime(window.reopens(wall)))
                whose = "" if window.owner == APP_LIMIT else f" ({window.owner})"
                raise QuotaExhausted(
                    f"the monthly limit of {window.limit} requests to {self.name or 'the app'}"
                    f"{whose} is used up; it reopens on {reopens} (UTC)"
                )

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
        """Wait until an action of the named endpoint bucket may go (cost: requests it makes).

        Its wait is one like any other inside the budget: announced from the call's
        threshold and refused past its `max_wait` (connector.budget.PACING_WAITS), with
        nothing counted when refused."""
        windows = self._buckets.get(name)
        if not windows:
            return
        now = self.clock.now()
        shift = self.clock.wall() - now
        start = now + shift
        cost = max(1, cost)
        for window in windows:
            window.forget(start)
        # Where the last of `cost` requests goes, worked out on copies: the wait to tell
        # (or refuse) is the whole of it, and a refused one must leave no count behind.
        last = _commit_cost([w.copy() for w in windows], first_fit(windows, start), cost)
        if last > start:
            _before_waiting(last - start, windows, start)
        at = _commit_cost(windows, first_fit(windows, start), cost) - shift
        if at > now:
            await self.clock.sleep(at - now)

    def _named(self, retry_after: float | None) -> float | None:
        return float(retry_after) if retry_after is not None and retry_after > 0 else None

    def _adaptive_case(self, retry_after: float | None) -> bool:
        """No wait named by the API (absent, or an error-table default) and no window."""
        named = self._named(retry_after)
        hinted = named is not None and named not in self.spec.throttle_defaults
        return not hinted and not self._all_windows()

    def _all_windows(self) -> list[RateWindow]:
        return self._windows + [w for ws in self._endpoints.values() for w in ws]

    def _adaptive_cap(self, retry_after: float | None) -> float:
        return self._named(retry_after) or self.throttle_pause

    def pause_for(self, retry_after: float | None) -> float:
        """Seconds a throttle with this `retry_after` pauses everyone (see the module doc).

        For the adaptive case: the pause in force (the latest throttle's), or the first step.
        """
        named = self._named(retry_after)
        if named is not None and named not in self.spec.throttle_defaults:
            return named
        windows = self._all_windows()
        if not windows:
            return min(self._adaptive or ADAPTIVE_START, self._adaptive_cap(retry_after))
        shortest = min(windows, key=lambda w: w.seconds if w.seconds > 0 else math.inf)
        period = shortest.seconds if shortest.seconds > 0 else 3600.0
        wall = self.clock.wall()
        # At least until the next clock-aligned boundary (where fixed windows reopen), and
        # until our own count of the window has room again.
        aligned = period - wall % period + min(1.0, 0.02 * period)
        reopen = max(aligned, shortest.reopens(wall) - wall)
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
            if self._windows or self._endpoints:
                # Our count said there was room: the server counts otherwise (windows not
                # aligned with ours, another client on the token). Sliding is safe.
                self.stale = True
                for window in admission.windows:
                    window.to_sliding()
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
            # Resume through the probe line: one request first, the rest on its answer.
            self._gated = True
            self._line_moved()


def first_fit(windows: list[RateWindow], wall: float) -> float:
    """The first wall time at or after `wall` at which every one of `windows` has room."""
    for _ in range(1000):  # each step moves to a later boundary: few are needed
        later = wall
        for window in windows:
            t = window.earliest(wall)
            if t > later:
                later = t
        if later == wall:
            break
        wall = later
    return wall


def _commit_cost(windows: list[RateWindow], at: float, cost: int) -> float:
    """Count `cost` requests from wall time `at` (when every window has room); returns when
    the last of them goes: a cost larger than a window spreads over as many as it takes."""
    for window in windows:
        for _ in range(cost):
            at = max(at, window.earliest(at))
            window.commit(at)
    return at


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
            budget = budgets[key] = self._make(app, credential or "", spec)
        return budget

    def _make(self, app: str, credential: str, spec: RateLimitSpec) -> RateBudget:
        """A new budget (a subclass's registry builds its own kind)."""
        return RateBudget(spec, clock=self.clock, name=app)
