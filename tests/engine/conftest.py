"""A tiny fake catalog and runner, so engine behaviour is tested without HTTP."""

from __future__ import annotations

import asyncio
import difflib
import heapq
import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connector.catalog.templates import render
from connector.engine.executor import Engine
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.runlog import RunLog
from connector.errors import FieldError, InvalidInput


class SimClock:
    """Simulated time for concurrent code: sleepers wake in time order, and time jumps
    to the next wake-up only once every runnable task has had its turn.

    (connector.clock.FakeClock adds each sleep to one shared time, which models a single
    sleeper well but not many concurrent ones.)
    """

    def __init__(self, start: float = 1_000.0, busy: Callable[[], bool] | None = None) -> None:
        self.t = start
        self.sleeps: list[float] = []
        #: True while something real (an HTTP request) is under way: time must not jump
        #: then, or a request would seem to take minutes of simulated time
        self.busy = busy or (lambda: False)
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.wall_of(self.t)

    @staticmethod
    def wall_of(t: float) -> float:
        """The wall time (epoch seconds, on a minute and hour boundary at t=0) of `t`."""
        return t + 1_767_225_600.0

    def advance(self, seconds: float) -> None:
        self.t += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self.t + seconds, next(self._seq), fut))
        await fut

    async def drive(self, coro: Coroutine[Any, Any, Any]) -> Any:
        task = asyncio.ensure_future(coro)
        while not task.done():
            for _ in range(30):
                await asyncio.sleep(0)
                if task.done():
                    break
            if task.done():
                break
            if self._heap and not self.busy():
                wake, _, fut = heapq.heappop(self._heap)
                self.t = max(self.t, wake)
                if not fut.done():
                    fut.set_result(None)
            else:
                await asyncio.sleep(0.001)  # waiting on something real (I/O)
        return task.result()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run(self.drive(coro))


@dataclass
class FakeAction:
    app: str
    key: str
    idempotent: bool = True
    reconcile: str | None = None
    #: input key -> (python type, required)
    inputs: dict[str, tuple[type, bool]] = field(default_factory=dict)
    rate_limit: Any = None

    @property
    def id(self) -> str:
        return f"{self.app}.{self.key}"


class FakeCatalog:
    def __init__(self, actions: list[FakeAction], concurrency: int = 3) -> None:
        self.actions = {a.id: a for a in actions}
        self.apps = {
            "fake": SimpleNamespace(
                rate_limits={"concurrency": concurrency}, credential_env="FAKE_TOKEN"
            )
        }

    def get(self, action_id: str) -> FakeAction:
        if action_id not in self.actions:
            close = difflib.get_close_matches(action_id, list(self.actions), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidInput(f"unknown action {action_id!r}{hint}", where=action_id)
        return self.actions[action_id]

    def prepare_inputs(
        self, action_id: str, raw: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        return dict(render(raw, context))

    def static_input_errors(self, action_id: str, raw: dict[str, Any]) -> list[FieldError]:
        action = self.get(action_id)
        out = []
        for key, value in raw.items():
            if key not in action.inputs:
                out.append(FieldError(key, "the action has no such input"))
            elif not (isinstance(value, str) and "{{" in value):
                expected = action.inputs[key][0]
                if not isinstance(value, expected):
                    out.append(FieldError(key, f"expected {expected.__name__}"))
        for key, (_, required) in action.inputs.items():
            if required and key not in raw:
                out.append(FieldError(key, "required"))
        return out


class FakeRunner:
    """Plays scripted outcomes per (action, key input); default: echo the inputs."""

    def __init__(self, clock: SimClock | None = None) -> None:
        self.script: dict[tuple[str, Any], list[Any]] = defaultdict(list)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.reconciles: list[tuple[str, dict[str, Any]]] = []
        self.reconcile_result: Any = None
        self.applied: list[dict[str, Any]] = []
        self.clock = clock
        self.latency = 0.0

    def plan(self, action_id: str, key: Any, *outcomes: Any) -> None:
        self.script[(action_id, key)].extend(outcomes)

    async def run(self, action_id: str, inputs: dict[str, Any]) -> Any:
        self.calls.append((action_id, inputs))
        if self.clock is not None and self.latency:
            await self.clock.sleep(self.latency)
        queue = self.script.get((action_id, inputs.get("key")))
        if queue:
            outcome = queue.pop(0)
            if isinstance(outcome, BaseException):
                if getattr(outcome, "write_applied", False) is not False:
                    self.applied.append(inputs)
                raise outcome
            return outcome
        self.applied.append(inputs)
        return {"echo": inputs}

    async def reconcile(self, action_id: str, inputs: dict[str, Any]) -> Any:
        self.reconciles.append((action_id, inputs))
        return self.reconcile_result


ACTIONS = [
    FakeAction("fake", "get", inputs={"key": (str, True), "n": (int, False)}),
    FakeAction("fake", "create", idempotent=False, inputs={"key": (str, True)}),
    FakeAction(
        "fake",
        "create_checked",
        idempotent=False,
        reconcile="x:y",
        inputs={"key": (str, True)},
    ),
    FakeAction("fake", "list", inputs={"count": (int, False)}),
]


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog(ACTIONS)


@pytest.fixture
def runner(clock: SimClock) -> FakeRunner:
    return FakeRunner(clock)


@pytest.fixture
def runlog(tmp_path: Path) -> RunLog:
    log = RunLog(tmp_path / "runs.db")
    yield log
    log.close()


@pytest.fixture
def engine(catalog: FakeCatalog, runner: FakeRunner, runlog: RunLog, clock: SimClock) -> Engine:
    budgets = {"fake": RateBudget(RateLimitSpec(concurrency=3), clock=clock, name="fake")}
    return Engine(catalog, runner, runlog, budgets=budgets, clock=clock, rng=random.Random(7))
