"""A run's own rate limits (a workflow's `limits`), on top of its apps' budgets.

An app's budget (connector/engine/rate_budget.py, shared across processes in
shared_budget.py) paces by what the API allows, for every run of the process. A workflow's
`limits` are the user's choice for that workflow's runs only: an engine serving many runs
(a Temporal worker) must not pace the others by them. So each run with limits gets its own
windows per app (`RunLimits`), counted in the same reservation as the app's: a request goes
at the first instant both the app's windows and its run's have room. The engine binds the
run to the task that runs its steps (`RUN_LIMITS`, inherited by the tasks it starts), and
the budget's slot reads it there: no argument threads through handlers and the HTTP layer.

A worker keeps a run's windows while any of its tasks still hold them, and after that (the
run's next step may come to the same worker) until they count nothing any more, at most
`KEPT_RUNS` of them (`RunLimitsCache`). Windows that count nothing are as good as new ones,
so dropping them loses nothing. A shared budget counts a run's windows in its tables too
(`RunWindow.wid`), so a run spread over several workers is held to its limits by all of
them; the run's end removes them there (`Engine.forget_run`).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING

from connector.engine.rate_limits import WINDOW_FIELDS
from connector.engine.rate_windows import RateWindow

if TYPE_CHECKING:
    from connector.engine.rate_budget import RateBudget

__all__ = [
    "KEPT_RUNS",
    "RUN_LIMITS",
    "RunLimits",
    "RunLimitsCache",
    "RunWindow",
    "run_limits",
    "run_window_prefix",
]

#: runs whose windows a worker keeps once no task of theirs is running (least recently
#: bound dropped first; windows that count nothing are dropped sooner)
KEPT_RUNS = 256

OWNER = "the workflow's limit"


def run_window_prefix(run_id: str) -> str:
    """How a run's windows are named where a shared budget stores them."""
    return f"run {run_id}/"


class RunWindow(RateWindow):
    """One of a run's own windows, named for a shared budget (which counts it across
    workers, with the app's, in its tables: connector/engine/shared_budget.py)."""

    __slots__ = ("wid",)

    def __init__(self, run_id: str, limit: int, seconds: float, *, sliding: bool) -> None:
        super().__init__(limit, seconds, sliding=sliding, owner=OWNER)
        self.wid = run_window_prefix(run_id) + self.name

    def copy(self) -> RunWindow:
        twin = RunWindow.__new__(RunWindow)
        twin.wid = self.wid
        for name in RateWindow.__slots__:
            setattr(twin, name, getattr(self, name))
        twin.counts = dict(self.counts)
        twin.log = deque(self.log, maxlen=self.limit)
        return twin


class RunLimits:
    """One run's own windows, per app budget, and its concurrency caps per app."""

    __slots__ = ("__weakref__", "concurrency", "run_id", "windows")

    def __init__(
        self,
        run_id: str,
        windows: dict[RateBudget, list[RateWindow]],
        concurrency: dict[str, int],
    ) -> None:
        self.run_id = run_id
        self.windows = windows
        self.concurrency = concurrency

    def idle(self, wall: float) -> bool:
        """Nothing this run sent constrains it any more."""
        return all(w.idle(wall) for ws in self.windows.values() for w in ws)


#: the run whose steps the current task runs (set by Engine.run and Engine.bind_run)
RUN_LIMITS: ContextVar[RunLimits | None] = ContextVar("run_limits", default=None)


def run_limits(
    run_id: str, given: Mapping[str, Mapping[str, int]], budgets: Mapping[str, RateBudget]
) -> RunLimits | None:
    """The run's windows for the figures a workflow sets (app -> {per_minute: 40, ...}),
    counted as each app's API counts (fixed or sliding); None when it sets none."""
    windows: dict[RateBudget, list[RateWindow]] = {}
    concurrency: dict[str, int] = {}
    for app, figures in given.items():
        budget = budgets.get(app)
        if budget is None:
            continue
        sliding = budget.spec.windows != "fixed"
        own: list[RateWindow] = [
            RunWindow(run_id, limit, WINDOW_FIELDS[name], sliding=sliding)
            for name, limit in figures.items()
            if name in WINDOW_FIELDS and limit
        ]
        if own:
            windows[budget] = own
        if figures.get("concurrency"):
            concurrency[app] = int(figures["concurrency"])
    if not windows and not concurrency:
        return None
    return RunLimits(run_id, windows, concurrency)


class RunLimitsCache:
    """The runs' windows an engine keeps (see the module doc): held weakly while tasks
    use them, and strongly for `kept` runs at most, until they count nothing."""

    def __init__(self, wall: Callable[[], float], kept: int = KEPT_RUNS) -> None:
        self._wall = wall
        self._kept_most = kept
        self._live: weakref.WeakValueDictionary[str, RunLimits] = weakref.WeakValueDictionary()
        self._kept: OrderedDict[str, RunLimits] = OrderedDict()

    def __len__(self) -> int:
        """Runs whose windows are in memory (held by a task of theirs, or kept)."""
        return len(self._live)

    @property
    def kept(self) -> int:
        """Runs whose windows are kept with no task of theirs running."""
        return len(self._kept)

    def bind(self, run_id: str, make: Callable[[], RunLimits | None]) -> RunLimits | None:
        """The run's windows: the ones it already has on this engine, or new ones."""
        limits = self._live.get(run_id)
        fresh = limits is None
        if limits is None:
            limits = make()
            if limits is None:
                return None
            self._live[run_id] = limits
        self._kept[run_id] = limits
        self._kept.move_to_end(run_id)
        if fresh:
            self._trim(run_id)
        return limits

    def forget(self, run_id: str) -> RunLimits | None:
        """The run ended: its windows go once no task holds them (returned, if known)."""
        return self._kept.pop(run_id, None) or self._live.get(run_id)

    def _trim(self, bound: str) -> None:
        """Drop the runs whose windows count nothing, then the least recently bound past
        the bound; never the run just bound."""
        wall = self._wall()
        for run_id in [r for r, limits in self._kept.items() if r != bound and limits.idle(wall)]:
            del self._kept[run_id]
        while len(self._kept) > self._kept_most:
            self._kept.popitem(last=False)
