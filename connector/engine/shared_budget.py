"""A rate budget shared by every worker and process on one app and credential.

`SharedRateBudget` is the in-process `RateBudget` (connector/engine/rate_budget.py) whose
window counts and throttle pause live in PostgreSQL (connector/engine/shared_budget_store.py)
instead of in the process:

- **Pacing.** Each request's reservation is one transaction on the budget's row, locked
  `FOR UPDATE`: the windows' counters are read, the same `RateWindow` arithmetic as the
  in-process budget finds the first instant every window has room (`first_fit`) and counts
  the request there, and the counters are written back. So three processes together send
  what one would, as early as the windows allow and never more. Times are the database's
  (`clock_timestamp()`), read in the same transaction: each process only sleeps the
  difference between the granted instant and the database's "now", so the processes'
  clocks never need to agree. Reservations waiting in one process go in one transaction
  (a batch, in arrival order); across processes PostgreSQL queues the lock in order.
- **Throttle pause.** A throttle one process sees pauses the others: the pause (computed as
  the in-process budget does) is written to the budget's row, and every reservation starts
  no earlier than it. A window turned sliding (the server's windows are not where we
  assumed) is stored sliding for everyone.
- **Concurrency** stays in the process: Bitly's 5 connections are per client IP, so a cap
  is a machine's (one process per address, `CONNECTOR_SOURCE_ADDRESS`), never shared.
- **Learned figures.** What the API reports as already used this hour is compared with
  the shared hour's count: only what no process of ours counted (another client on the
  token) is added, as sent just now.
- **A run's own limits** (a workflow's `limits`: connector/engine/run_limits.py) are
  windows named by the run, reserved in the same transaction as the app's, so a run whose
  items go to several workers is held to them by all; the run's end removes them.
- **Lateness.** A request granted "now" leaves once the transaction has committed: grants
  start that long (the last transactions' read-to-commit time) after the database's now,
  so the windows count each request where it will land.

An app with no declared window needs no reservation: it reads the shared pause at most
every `PAUSE_POLL` seconds instead of once per request.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import math
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import cast

from connector.budget import PACING_WAITS, PacingWaits, WaitRefused
from connector.clock import Clock, SystemClock
from connector.engine.rate_budget import (
    DEFAULT_THROTTLE_PAUSE,
    BudgetRegistry,
    RateBudget,
    _Admission,
    _before_waiting,
    first_fit,
)
from connector.engine.rate_limits import RateLimitSpec
from connector.engine.rate_windows import MONTH, RateWindow
from connector.engine.run_limits import RunWindow, run_window_prefix
from connector.engine.shared_budget_store import BudgetStore, Reserved, WindowState
from connector.errors import ConnectorError, QuotaExhausted

__all__ = [
    "PAUSE_POLL",
    "SharedBudgetRegistry",
    "SharedRateBudget",
    "budget_key",
    "hold_budgets",
]

#: seconds between reads of the shared pause for an app with no declared window
PAUSE_POLL = 0.25


def budget_key(app: str, credential: str) -> str:
    """The budget's name in the database: a hash, never the credential."""
    return hashlib.sha256(f"{app}\0{credential}".encode()).hexdigest()


class _DatabaseWall:
    """The budget's clock, with `wall()` moved onto the database's clock (learned at each
    reservation), so that pauses computed from the shared windows use one timeline."""

    def __init__(self, inner: Clock) -> None:
        self.inner = inner
        self.offset = 0.0

    def now(self) -> float:
        return self.inner.now()

    def wall(self) -> float:
        return self.inner.wall() + self.offset

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _FiguresChanged(Exception):
    """The budget's windows were rebuilt while a reservation read the database."""


@dataclass
class _Request:
    """One reservation waiting for the next transaction."""

    #: the windows it counts against, as the budget's figures stand when it is reserved
    choose: Callable[[], list[RateWindow]]
    #: seconds this process's own pause has left (its throttles since the last write)
    not_before: float
    #: a request's slot (month checked, counted once), or a bucket's `cost` requests
    slot: bool
    cost: int
    future: asyncio.Future[tuple[float, float, list[RateWindow]]]
    #: how the sending call takes a long wait (read in its task: the batch runs in another)
    waits: PacingWaits | None = None


class SharedRateBudget(RateBudget):
    """`RateBudget` counting in PostgreSQL; see the module doc."""

    def __init__(
        self,
        spec: RateLimitSpec,
        *,
        store: Callable[[], BudgetStore],
        key: str,
        clock: Clock | None = None,
        name: str = "",
        throttle_pause: float = DEFAULT_THROTTLE_PAUSE,
    ) -> None:
        self._store_of = store
        self.key = key
        self._wids: dict[int, str] = {}
        self._by_wid: dict[str, RateWindow] = {}
        #: endpoint -> requests the API reported used this hour, merged at the next write
        self._pending_used: dict[str, int] = {}
        self._queue: list[_Request] = []
        self._flusher: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._pause_read_at = -math.inf
        #: how long the last transactions took from the read to their commit: a request
        #: granted "now" is sent that much later, so it is counted from then
        self._lag = 0.0
        self._wall = _DatabaseWall(clock or SystemClock())
        super().__init__(spec, clock=self._wall, name=name, throttle_pause=throttle_pause)

    # -- window names ------------------------------------------------------------------------

    def _build(self, spec: RateLimitSpec) -> None:
        super()._build(spec)
        named: dict[str, RateWindow] = {}
        for window in self._windows:
            named[f"app/{window.name}"] = window
        for bucket, windows in self._buckets.items():
            named.update({f"bucket {bucket}/{w.name}": w for w in windows})
        for label, windows in self._endpoints.items():
            named.update({f"{label}/{w.name}": w for w in windows})
        self._by_wid = named
        self._wids = {id(window): wid for wid, window in named.items()}
        for ep in spec.endpoints:
            if ep.used_hour:
                self._pending_used[ep.label] = ep.used_hour

    # -- reservations ------------------------------------------------------------------------

    async def _pace(self, method: str, path: str, own: list[RateWindow] | None) -> _Admission:
        # The windows are chosen at each reservation (RateBudget._chooser): new figures
        # (learned, refreshed after a throttle) rebuild them, maybe while the request
        # waits; it is then counted in the new ones, by its endpoint, never in windows no
        # longer shared.
        choose = self._chooser(method, path, own)
        while True:
            probe = await self._through_line() if self._gated else False
            epoch = self._epoch
            windows = choose()
            if windows or self.clock.now() - self._pause_read_at >= PAUSE_POLL:
                delay, windows = await self._reserve_shared(choose, slot=True, cost=1)
            else:
                delay = self.resume_at - self.clock.now()
            if delay > 0:
                await self.clock.sleep(delay)
            if self._epoch == epoch or self.clock.now() >= self.resume_at:
                return _Admission(id(self), self._epoch, probe, windows)
            # A throttle arrived meanwhile: our reservation predates the pause.
            if probe:
                self._probe_out = False
                self._line_moved()

    async def pace_bucket(self, name: str, cost: int = 1) -> None:
        if not self._buckets.get(name):
            return

        def choose() -> list[RateWindow]:
            return self._buckets.get(name) or []

        delay, _ = await self._reserve_shared(choose, slot=False, cost=max(1, cost))
        if delay > 0:
            await self.clock.sleep(delay)

    async def _reserve_shared(
        self, choose: Callable[[], list[RateWindow]], *, slot: bool, cost: int
    ) -> tuple[float, list[RateWindow]]:
        """Queue a reservation; the seconds to wait from now before sending, and the
        windows it was counted in."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[float, float, list[RateWindow]]] = loop.create_future()
        not_before = max(0.0, self.resume_at - self.clock.now()) if slot else 0.0
        self._queue.append(_Request(choose, not_before, slot, cost, future, PACING_WAITS.get()))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        received, delay, windows = await future
        return delay - (self.clock.now() - received), windows

    async def _flush(self) -> None:
        """Run the queued reservations, a batch per transaction, in arrival order."""
        while self._queue:
            batch, self._queue = self._queue, []
            if self._publishing:  # a throttle we saw is shared before we reserve again
                await asyncio.gather(*self._publishing, return_exceptions=True)
            try:
                while True:
                    try:
                        received, results = await self._run_batch(batch)
                        break
                    except _FiguresChanged:
                        continue  # rolled back: reserved again in the new windows
            except Exception as exc:
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            for request, result in zip(batch, results, strict=True):
                if request.future.done():  # its caller was cancelled: the slot is spent
                    continue
                if isinstance(result, BaseException):
                    request.future.set_exception(result)
                else:
                    request.future.set_result((received, *result))

    async def _run_batch(
        self, batch: list[_Request]
    ) -> tuple[float, list[tuple[float, list[RateWindow]] | BaseException]]:
        """The batch's reservations in one transaction: when the database's time was read
        (this process's clock), and per request its wait from then and the windows it was
        counted in, or its error. _FiguresChanged (nothing written) when the windows were
        rebuilt meanwhile."""
        generation = self._generation
        chosen = [request.choose() for request in batch]
        pending = {k: n for k, n in self._pending_used.items() if k in self._endpoints}
        # A run's own windows (run_limits.py) are counted here too, under their run's
        # name: a run whose items go to several workers is held to its limits by all. The
        # tables' counts go into copies; the process's own windows keep its own sends
        # (and the waits for room held in them: RateBudget._hold_room), added once the
        # transaction has committed.
        runs = {w.wid: w for windows in chosen for w in windows if isinstance(w, RunWindow)}
        by_wid: dict[str, RateWindow] = self._by_wid
        ids = {self._wid(w) for windows in chosen for w in windows}
        ids |= {self._wid(w) for label in pending for w in self._endpoints[label]}
        outcome: list[tuple[float, list[RateWindow]] | BaseException] = []
        committed: dict[str, list[float]] = {}
        read_at = [0.0]

        def compute(db_now: float, resume_at: float, states: dict[str, WindowState]) -> Reserved:
            if self._generation != generation:
                raise _FiguresChanged  # the transaction is rolled back: nothing counted
            # The database's "now" is a read's round trip old, not the whole transaction's:
            # waits are counted from here, or every request would go a commit late.
            read_at[0] = self.clock.now()
            self._wall.offset = db_now - self._wall.inner.wall()
            outcome.clear()
            nonlocal by_wid
            twins = {wid: window.copy() for wid, window in runs.items()}
            by_wid = {**self._by_wid, **twins} if twins else self._by_wid
            self._load(ids, states, by_wid)
            for wid in ids:
                by_wid[wid].forget(db_now)
            for label, used in pending.items():
                self._merge_used(self._endpoints[label], used, db_now)
            committed.clear()
            committed.update({wid: [] for wid in ids})
            for request, windows in zip(batch, chosen, strict=True):
                start = db_now + max(request.not_before, self._lag)
                if request.slot:
                    start = max(start, resume_at)
                counted = [by_wid[self._wid(w)] for w in windows] if twins else windows
                try:
                    granted = self._grant(request, counted, start, committed, db_now)
                except (QuotaExhausted, WaitRefused) as exc:
                    outcome.append(exc)
                    continue
                outcome.append((granted - db_now, windows))
            return Reserved(
                {
                    wid: self._state(by_wid[wid], states.get(wid), committed[wid], db_now)
                    for wid in ids
                }
            )

        db_now, resume_at = await self._store_of().reserve(self.key, self.name, ids, compute)
        for wid, window in runs.items():
            for sent in committed[wid]:
                window.commit(sent)
        for label in pending:
            self._pending_used.pop(label, None)
        now = read_at[0]
        self._lag = max(self.clock.now() - now, 0.9 * self._lag)
        self._pause_read_at = now
        if resume_at > db_now:  # another process's throttle: everyone waits it out
            self.resume_at = max(self.resume_at, now + resume_at - db_now)
        return now, outcome

    def _wid(self, window: RateWindow) -> str:
        """A window's name in the tables: the app's by this budget's figures, a run's own
        by its run."""
        wid = self._wids.get(id(window))
        return wid if wid is not None else cast(RunWindow, window).wid

    def _load(
        self, ids: set[str], states: dict[str, WindowState], by_wid: Mapping[str, RateWindow]
    ) -> None:
        """The windows as every process counted them (a sliding one stays sliding)."""
        for wid in ids:
            window = by_wid[wid]
            state = states.get(wid)
            window.counts = dict(state.counts) if state else {}
            log = state.log[-window.limit :] if state else []
            window.log = deque(log, maxlen=window.limit)
            if state is not None and state.sliding:
                window.to_sliding()

    @staticmethod
    def _merge_used(windows: list[RateWindow], used: int, wall: float) -> None:
        """The API counted `used` requests to an endpoint this hour. Those our processes
        sent are in the shared counts already; the rest (another client on the token)
        are counted as sent just now, in every window of the endpoint."""
        hour = next((w for w in windows if w.seconds == 3600.0), None)
        counted = 0
        if hour is not None:
            if hour.sliding:
                counted = sum(1 for t in hour.log if t > wall - hour.seconds)
            else:
                counted = hour.counts.get(math.floor(wall / hour.seconds), 0)
        extra = used - counted
        if extra > 0:
            for window in windows:
                window.commit(wall, min(extra, window.limit))

    def _grant(
        self,
        request: _Request,
        windows: list[RateWindow],
        start: float,
        committed: dict[str, list[float]],
        now: float,
    ) -> float:
        if request.slot:
            self._check_month(windows, start)
        at = first_fit(windows, start)
        if at > start and request.waits is not None:
            # A full window: announced, or refused past the call's limit (nothing counted).
            token = PACING_WAITS.set(request.waits)
            try:
                _before_waiting(at - now, windows, start)
            finally:
                PACING_WAITS.reset(token)
        for window in windows:
            times = committed[self._wid(window)]
            for _ in range(request.cost):
                # a cost larger than the window is spread over as many windows as it takes
                at = max(at, window.earliest(at))
                window.commit(at)
                times.append(at)
        return at

    def _state(
        self, window: RateWindow, stored: WindowState | None, committed: list[float], now: float
    ) -> WindowState:
        if window.seconds == MONTH:
            return WindowState(dict(window.counts), [], False)  # never sliding: counts do
        if stored is not None and len(stored.log) > window.limit:
            # another process keeps a longer log (a higher limit): keep it whole
            log = sorted(stored.log + committed)[-len(stored.log) :]
        else:
            log = list(window.log)
        # Sends older than a window (and its margins) constrain nothing, even sliding.
        since = now - window.seconds - 2 * window.margin
        if log and log[0] < since:
            log = log[bisect.bisect_left(log, since) :]
        return WindowState(dict(window.counts), log, window.sliding)

    # -- throttles ---------------------------------------------------------------------------

    def throttled(self, retry_after: float | None) -> None:
        before = self.resume_at
        fixed = [wid for wid, window in self._by_wid.items() if not window.sliding]
        super().throttled(retry_after)
        turned = [wid for wid in fixed if self._by_wid[wid].sliding]
        left = self.resume_at - self.clock.now() if self.resume_at > before else 0.0
        if left <= 0 and not turned:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._share_pause(max(0.0, left), turned))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    def forget_run(self, run_id: str) -> None:
        """The run ended: its own windows' rows go from the tables (in the background,
        before the session's connection closes)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._drop_run(run_window_prefix(run_id)))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _drop_run(self, prefix: str) -> None:
        try:
            await self._store_of().drop_windows(self.key, prefix)
        except ConnectorError:
            return  # rows of counts only: the next run's windows have other names

    async def _share_pause(self, seconds: float, sliding: list[str]) -> None:
        try:
            await self._store_of().pause(self.key, self.name, seconds, sliding)
        except ConnectorError:
            # Unreachable: the next reservation fails and says so; the pause holds here.
            return


class SharedBudgetRegistry(BudgetRegistry):
    """Budgets by (app, credential) whose counts live in the database at `url`.

    Budgets and their local parts (concurrency, the probe line) are per process and event
    loop, as in-process ones are; the connection is per event loop and closed when the
    last engine session holding it ends (`hold`). With `db_clock=False` the registry's
    clock stands in for the database's (simulated time in tests).
    """

    def __init__(
        self, url: str, where: str, clock: Clock | None = None, *, db_clock: bool = True
    ) -> None:
        super().__init__(clock)
        self.url = url
        self.where = where
        self._db_wall = None if db_clock else self.clock.wall
        self._stores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, BudgetStore] = (
            weakref.WeakKeyDictionary()
        )
        self._holders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = (
            weakref.WeakKeyDictionary()
        )

    def store(self) -> BudgetStore:
        """The running event loop's connection to the budgets' database."""
        loop = asyncio.get_running_loop()
        store = self._stores.get(loop)
        if store is None:
            store = self._stores[loop] = BudgetStore(self.url, self.where, wall=self._db_wall)
        return store

    def _make(self, app: str, credential: str, spec: RateLimitSpec) -> RateBudget:
        return SharedRateBudget(
            spec, store=self.store, key=budget_key(app, credential), clock=self.clock, name=app
        )

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Keep this loop's connection open while an engine session runs."""
        loop = asyncio.get_running_loop()
        self._holders[loop] = self._holders.get(loop, 0) + 1
        try:
            yield
        finally:
            left = self._holders[loop] - 1
            self._holders[loop] = left
            if left == 0:
                budgets = self._by_loop.get(loop, {}).values()
                tasks = [
                    task
                    for budget in budgets
                    if isinstance(budget, SharedRateBudget)
                    for task in budget._publishing
                ]
                if tasks:  # a throttle seen last is shared before the connection goes
                    await asyncio.gather(*tasks, return_exceptions=True)
                store = self._stores.pop(loop, None)
                if store is not None:
                    await store.close()


@asynccontextmanager
async def hold_budgets(budgets: Mapping[str, RateBudget]) -> AsyncIterator[None]:
    """Keep the connections of any shared ones among `budgets` open meanwhile (for code
    that builds budgets without an engine session)."""
    registries = {
        id(r): r
        for b in budgets.values()
        if isinstance(b, SharedRateBudget)
        and isinstance(r := getattr(b._store_of, "__self__", None), SharedBudgetRegistry)
    }
    async with AsyncExitStack() as stack:
        for registry in registries.values():
            await stack.enter_async_context(registry.hold())
        yield
