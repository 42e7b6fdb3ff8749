"""A workflow's `limits` pace its own run only (connector/engine/run_limits.py): on an
engine serving many runs (a Temporal worker's), a run with far tighter limits than the
app's neither slows the runs bound after it or beside it, nor exceeds its own limits.
Simulated time throughout (SimClock): nothing really waits."""

from __future__ import annotations

import asyncio
import gc
import itertools
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector.engine.executor import Engine
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.run_limits import KEPT_RUNS
from connector.engine.runlog import RunLog
from connector.engine.workflow import LoopStep, validate_workflow

from .conftest import ACTIONS, FakeCatalog, FakeRunner, SimClock
from .test_shared_budget_arithmetic import MemoryStore, _shared

WALL0 = SimClock.wall_of(0.0)  # on a minute boundary
_ids = itertools.count()


def _next_id() -> str:
    # Chosen here: a generated id is the second plus 24 random bits, and a thousand runs
    # made in one second may draw the same.
    return f"run-{next(_ids)}"


class PacedRunner(FakeRunner):
    """The fake runner, each call holding its app budget's slot as the HTTP layer does;
    records when each key was sent (simulated seconds)."""

    def __init__(self, clock: SimClock) -> None:
        super().__init__(clock)
        self.budgets: dict[str, RateBudget] = {}
        self.sent: list[tuple[str, float]] = []

    async def run(self, action_id: str, inputs: dict[str, Any]) -> Any:
        async with self.budgets[action_id.split(".")[0]].slot("GET", "/get"):
            assert self.clock is not None
            self.sent.append((str(inputs.get("key")), self.clock.t))
            return await super().run(action_id, inputs)


def _engine(
    tmp_path: Path, clock: SimClock, per_minute: int = 100, kind: str = "process"
) -> tuple[Engine, PacedRunner]:
    """A worker's engine, its app budget the process's own, or `kind="shared"`: counted in
    a store shared by workers (its arithmetic on simulated time, without a database)."""
    runner = PacedRunner(clock)
    spec = RateLimitSpec(concurrency=5, per_minute=per_minute, windows="fixed")
    budget = RateBudget(spec, clock=clock, name="fake")
    if kind == "shared":
        shared = _shared(spec, MemoryStore(clock), clock)
        # Simulated time stands still while reservations are under way (as for a real
        # database's round trips: shared_sim.py).
        clock.busy = lambda: shared._flusher is not None and not shared._flusher.done()
        budget = shared
    runner.budgets = {"fake": budget}
    engine = Engine(
        FakeCatalog(ACTIONS, concurrency=5),
        runner,
        RunLog(tmp_path / "runs.db"),
        budgets=runner.budgets,
        clock=clock,
        rng=random.Random(7),
    )
    return engine, runner


def _workflow(engine: Engine, limits: dict[str, Any] | None = None) -> Any:
    doc: dict[str, Any] = {
        "name": "t",
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.keys }}", "batch_size": 5},
                "action": "fake.get",
                "inputs": {"key": "{{ item }}"},
            }
        ],
    }
    if limits:
        doc["limits"] = limits
    return validate_workflow(doc, engine.catalog)


async def _worker_run(engine: Engine, workflow: Any, keys: list[str]) -> Any:
    """A run's steps as a Temporal worker runs them: each step an activity (a task of its
    own) on the worker's one engine, after `bind_run`."""
    trigger = {"keys": keys}
    run_id = engine.runlog.create_run(
        workflow=workflow.document,
        trigger=trigger,
        source_path=None,
        parent_run_id=None,
        run_id=_next_id(),
        started_at=engine.clock.wall(),
    )

    async def activity(position: int, step: Any, context: dict[str, Any]) -> Any:
        engine.bind_run(run_id, workflow, run_id)
        return await engine.run_step(run_id, position, step, context, None)

    context: dict[str, Any] = {"trigger": trigger, "steps": {}}
    for position, step in enumerate(workflow.steps):
        output = await asyncio.create_task(activity(position, step, context))
        context["steps"][step.id] = {"output": output}
    return run_id


def _minutes(times: list[float]) -> Counter[int]:
    return Counter(int((t + WALL0) // 60.0) for t in times)


def _times(runner: PacedRunner, prefix: str) -> list[float]:
    return [t for key, t in runner.sent if key.startswith(prefix)]


@pytest.mark.parametrize("kind", ["process", "shared"])
def test_a_run_bound_after_a_tightly_limited_one_is_paced_by_the_apps_figures(
    tmp_path: Path, kind: str
) -> None:
    clock = SimClock(start=0.0)
    engine, runner = _engine(tmp_path, clock, kind=kind)
    tight = _workflow(engine, {"fake": {"per_minute": 5}})
    free = _workflow(engine)

    async def main() -> None:
        await _worker_run(engine, tight, [f"a{i}" for i in range(10)])
        await _worker_run(engine, free, [f"b{i}" for i in range(100)])

    clock.run(main())
    a, b = _times(runner, "a"), _times(runner, "b")
    # The first run: 5 a minute, its own limit.
    assert a == [0.0] * 5 + [60.5] * 5
    # The second: the app's 100 a minute, less the 5 the first sent in that minute. With
    # the first run's limits applied to the app's budget it would take 20 minutes.
    assert b == [60.5] * 95 + [120.5] * 5
    assert engine.budgets["fake"].spec.per_minute == 100  # the app's budget untouched


@pytest.mark.parametrize("kind", ["process", "shared"])
def test_two_runs_at_once_on_one_engine_each_paced_by_its_own_limits(
    tmp_path: Path, kind: str
) -> None:
    clock = SimClock(start=0.0)
    engine, runner = _engine(tmp_path, clock, kind=kind)
    tight = _workflow(engine, {"fake": {"per_minute": 3}})
    free = _workflow(engine)

    async def main() -> None:
        await asyncio.gather(
            _worker_run(engine, tight, [f"a{i}" for i in range(12)]),
            engine.run(free, {"keys": [f"b{i}" for i in range(150)]}),  # embedded, beside it
        )

    clock.run(main())
    a, b = _times(runner, "a"), _times(runner, "b")
    assert len(a) == 12 and len(b) == 150
    # The tight run never exceeds its 3 a minute.
    assert max(_minutes(a).values()) == 3
    # The app's 100 a minute hold for both together, and the free run has the rest of
    # them: done in the second minute (at 3 a minute it would take 50).
    together = _minutes(a + b)
    assert max(together.values()) == 100
    assert max(b) == 60.5


def test_a_run_waiting_for_its_own_limits_holds_no_connection(tmp_path: Path) -> None:
    # The app allows 5 connections; the tight run's loop is 5 wide and waits a minute
    # for its own window: the other run's calls must not wait behind it meanwhile.
    clock = SimClock(start=0.0)
    engine, runner = _engine(tmp_path, clock, per_minute=1000)
    tight = _workflow(engine, {"fake": {"per_minute": 1}})
    free = _workflow(engine)
    runner.latency = 1.0

    async def main() -> None:
        await asyncio.gather(
            _worker_run(engine, tight, [f"a{i}" for i in range(3)]),
            _worker_run(engine, free, [f"b{i}" for i in range(50)]),
        )

    clock.run(main())
    a, b = _times(runner, "a"), _times(runner, "b")
    assert a == [0.0, 60.5, 120.5]
    # 5 at a time, 1 s each: 10 s for 50 (one connection was the tight run's first call).
    assert max(b) <= 10.0


def test_a_run_with_limits_has_its_loop_width_capped_by_its_concurrency(
    tmp_path: Path,
) -> None:
    clock = SimClock(start=0.0)
    engine, _runner = _engine(tmp_path, clock)
    narrow = _workflow(engine, {"fake": {"concurrency": 2}})
    step = narrow.steps[0]
    assert isinstance(step, LoopStep)
    assert engine.concurrency_for(step) == 5  # no run bound: the app's

    async def main() -> tuple[int | None, int | None]:
        run_id = engine.runlog.create_run(
            workflow=narrow.document,
            trigger={},
            source_path=None,
            parent_run_id=None,
            run_id=_next_id(),
            started_at=clock.wall(),
        )
        engine.bind_run(run_id, narrow, run_id)
        inside = engine.concurrency_for(step)
        other = await asyncio.create_task(_width_unbound(engine, step))
        return inside, other

    inside, other = clock.run(main())
    assert inside == 2
    assert other == 2  # a task started by the bound one is the run's too


async def _width_unbound(engine: Engine, step: LoopStep) -> int | None:
    return engine.concurrency_for(step)


def test_a_worker_serving_1000_short_runs_keeps_a_bounded_number_of_run_budgets(
    tmp_path: Path,
) -> None:
    clock = SimClock(start=0.0)
    engine, runner = _engine(tmp_path, clock, per_minute=100_000)
    limited = _workflow(engine, {"fake": {"per_minute": 50}})
    kept: list[int] = []
    live: dict[str, int] = {}

    async def main() -> None:
        for i in range(1000):
            run_id = await _worker_run(engine, limited, [f"r{i}"])
            if i % 2:
                # Finished here: the run's end releases its windows.
                engine.forget_run(run_id, limited)
            # else it ended on another worker: this one is never told
            kept.append(engine.run_limits.kept)
            if i == 601:
                gc.collect()  # a finished task in a reference cycle holds its context
                live["after the pause"] = len(engine.run_limits)
            if i == 600:
                await clock.sleep(120.0)  # the windows of all the runs so far count nothing

    clock.run(main())
    gc.collect()
    assert len(runner.sent) == 1000
    assert max(kept) == KEPT_RUNS
    assert live["after the pause"] <= 1  # idle windows dropped once another run is bound
    # Still held: only runs whose windows count sends of the last minute and did not end
    # here (199 of the 399 since the pause), never more than KEPT_RUNS of them.
    assert len(engine.run_limits) == 199


def test_a_run_released_while_a_task_of_it_still_runs_keeps_its_windows(tmp_path: Path) -> None:
    # One activity of the run is still sending when another activity of the same run is
    # bound and runs: they share the run's windows (never two allowances for one run).
    clock = SimClock(start=0.0)
    engine, runner = _engine(tmp_path, clock)
    tight = _workflow(engine, {"fake": {"per_minute": 2}})
    loop = tight.steps[0]
    assert isinstance(loop, LoopStep)
    step = loop.body[0]

    async def main() -> None:
        run_id = engine.runlog.create_run(
            workflow=tight.document,
            trigger={},
            source_path=None,
            parent_run_id=None,
            run_id=_next_id(),
            started_at=clock.wall(),
        )

        async def activity(keys: list[str]) -> None:
            engine.bind_run(run_id, tight, run_id)
            for key in keys:
                await engine.call(step, {"item": key}, where="t")

        first = asyncio.create_task(activity(["x1", "x2", "x3"]))
        await asyncio.sleep(0)
        engine.run_limits._kept.clear()  # as if evicted: only the running task holds them
        await asyncio.gather(first, asyncio.create_task(activity(["y1", "y2"])))

    clock.run(main())
    assert sorted(_minutes([t for _, t in runner.sent]).values()) == [1, 2, 2]


@pytest.mark.parametrize("limit", [5, 100])
def test_the_embedded_run_keeps_its_pacing(tmp_path: Path, limit: int) -> None:
    # `connector run`: one run, its limits as tight as they were when they were applied to
    # the app's budget (the lowest figure wins).
    clock = SimClock(start=0.0)
    engine, runner = _engine(tmp_path, clock, per_minute=50)
    workflow = _workflow(engine, {"fake": {"per_minute": limit}})
    result = clock.run(engine.run(workflow, {"keys": [f"k{i}" for i in range(60)]}))
    assert result.ok
    expected = min(limit, 50)
    minutes = _minutes([t for _, t in runner.sent])
    assert max(minutes.values()) == expected
    assert len(minutes) == -(-60 // expected)
    assert len(engine.run_limits) == 0


def test_two_workers_on_a_shared_budget_hold_one_run_to_its_limits(tmp_path: Path) -> None:
    # A run's item ranges on two workers at once (two engines, as two processes, each with
    # its own budget over one shared store): the run's own windows are counted in the
    # shared tables too, so together they send its 4 a minute, not 4 each.
    clock = SimClock(start=0.0)
    store = MemoryStore(clock)
    engines = []
    for index in range(2):
        runner = PacedRunner(clock)
        spec = RateLimitSpec(concurrency=5, per_minute=100, windows="fixed")
        runner.budgets = {"fake": _shared(spec, store, clock)}
        engines.append(
            (
                Engine(
                    FakeCatalog(ACTIONS, concurrency=5),
                    runner,
                    RunLog(tmp_path / f"runs{index}.db"),
                    budgets=runner.budgets,
                    clock=clock,
                    rng=random.Random(index),
                ),
                runner,
            )
        )
    budgets = [runner.budgets["fake"] for _, runner in engines]
    clock.busy = lambda: any(b._flusher is not None and not b._flusher.done() for b in budgets)
    tight = _workflow(engines[0][0], {"fake": {"per_minute": 4}})
    loop = tight.steps[0]
    assert isinstance(loop, LoopStep)
    step = loop.body[0]

    async def items(engine: Engine, keys: list[str]) -> None:
        engine.bind_run("run-1", tight, "run-1")
        for key in keys:
            await engine.call(step, {"item": key}, where="t")

    async def main() -> None:
        await asyncio.gather(
            asyncio.create_task(items(engines[0][0], [f"x{i}" for i in range(6)])),
            asyncio.create_task(items(engines[1][0], [f"y{i}" for i in range(6)])),
        )
        assert any(wid.startswith("run run-1/") for wid in store.windows)
        # The run ends on the first worker, which drops its windows from the tables.
        engines[0][0].forget_run("run-1", tight)
        await asyncio.gather(*budgets[0]._publishing)

    clock.run(main())
    sent = [t for _, runner in engines for _, t in runner.sent]
    assert len(sent) == 12
    assert sorted(_minutes(sent).values()) == [4, 4, 4]
    assert not [wid for wid in store.windows if wid.startswith("run ")]


def test_a_run_ending_on_a_worker_that_never_ran_it_drops_its_shared_windows(
    tmp_path: Path,
) -> None:
    clock = SimClock(start=0.0)
    engine, _ = _engine(tmp_path, clock, kind="shared")
    finisher, _ = _engine(tmp_path / "other", clock, kind="shared")
    tight = _workflow(engine, {"fake": {"per_minute": 5}})
    store = engine.budgets["fake"]._store_of()  # type: ignore[attr-defined]
    finisher.budgets["fake"]._store_of = lambda: store  # type: ignore[attr-defined]

    async def main() -> None:
        run_id = await _worker_run(engine, tight, ["a", "b"])
        assert sorted(w for w in store.windows if w.startswith("run ")) == [f"run {run_id}/minute"]
        finisher.forget_run(run_id, tight)
        await asyncio.gather(*finisher.budgets["fake"]._publishing)  # type: ignore[attr-defined]

    clock.run(main())
    assert not [wid for wid in store.windows if wid.startswith("run ")]
