"""What journaling each call's attempts costs a Temporal worker (engine/attempt_journal.py).

A worker's engine writes one journal row before each attempt, so that a call cut off with
its worker continues its attempt count elsewhere; the embedded engine writes none. Timed
here: loop items run through `run_item` (the code a range activity runs: inputs prepared
and validated by the real catalog, the retry policy, the call) with an in-process runner
that answers at once, so the figure is the engine's own cost per item, without the journal
and with it, on a SQLite file and on PostgreSQL (pgserver, loopback). Rounds alternate;
the verdict is the median of the per-round differences, in microseconds of CPU and wall
time per item (one attempt each, in an activity's first execution: the usual case). Run:

    .venv/bin/python bench/attempt_journal.py [--items 3000] [--rounds 5] [--no-postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine

from connector.catalog import load_catalog
from connector.clock import SystemClock
from connector.engine.attempt_journal import RESUMING, AttemptJournal
from connector.engine.executor import Engine
from connector.engine.loop_item import run_item
from connector.engine.runlog import RunLog
from connector.engine.workflow import LoopStep, validate_workflow

DOC: dict[str, Any] = {
    "name": "reads",
    "steps": [
        {
            "id": "each",
            "loop": {"over": "{{ trigger.slugs }}"},
            "action": "shorten_dev.get_link",
            "inputs": {"slug": "{{ item }}"},
        }
    ],
}


class Instant:
    """A runner that answers every call at once (no HTTP: the engine's cost alone)."""

    async def run(self, action_id: str, inputs: dict[str, Any]) -> Any:
        return {"link": {"slug": inputs["slug"]}, "short_url": "https://r.example/x"}

    async def reconcile(self, action_id: str, inputs: dict[str, Any]) -> Any:
        return None


def per_item(target: Path | str, items: int, journal: bool) -> tuple[float, float]:
    """CPU and wall microseconds per item, run through `run_item` one after another."""
    catalog = load_catalog()
    log = RunLog(target)
    engine = Engine(catalog, Instant(), log, clock=SystemClock())
    if journal:
        engine.journal = AttemptJournal(log)
    workflow = validate_workflow(DOC, catalog)
    step = workflow.steps[0]
    assert isinstance(step, LoopStep)
    run_id = log.create_run(
        workflow=workflow.document, trigger=None, source_path=None, parent_run_id=None,
        started_at=time.time(),
    )  # fmt: skip
    engine.bind_run(run_id, workflow, run_id)
    context: dict[str, Any] = {"trigger": {}, "steps": {}}

    async def go() -> tuple[float, float]:
        RESUMING.set(False)  # a first execution, the usual case: nothing to read back
        cpu, wall = time.process_time(), time.perf_counter()
        for idx in range(items):
            await run_item(engine, run_id, step, context, f"s{idx:06d}", idx)
        return (
            (time.process_time() - cpu) / items * 1e6,
            (time.perf_counter() - wall) / items * 1e6,
        )

    try:
        return asyncio.run(go())
    finally:
        log.close()


def compare(
    name: str, make_target: Any, items: int, rounds: int, measure: Any = None, per: str = "item"
) -> None:
    """`measure(target, items, journal)` (per_item) without and with the journal, rounds
    alternating; prints each round and the median of the differences per `per`."""
    measure = measure or per_item
    cpu_added: list[float] = []
    wall_added: list[float] = []
    for n in range(rounds):
        off = measure(make_target(), items, journal=False)
        on = measure(make_target(), items, journal=True)
        cpu_added.append(on[0] - off[0])
        wall_added.append(on[1] - off[1])
        print(f"  {name} round {n + 1}: without {off[0]:6.0f} us CPU {off[1]:6.0f} us wall;"
              f" with {on[0]:6.0f} us CPU {on[1]:6.0f} us wall")  # fmt: skip
    print(
        f"{name}: the journal adds {statistics.median(cpu_added):.0f} us CPU and "
        f"{statistics.median(wall_added):.0f} us wall per {per} (median of {rounds} rounds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    print(machine())
    on_each_log(lambda name, make: compare(name, make, args.items, args.rounds), args)


def on_each_log(body: Any, args: Any) -> None:
    """`body(name, make_target)` on SQLite files, then (unless --no-postgresql) on
    databases of a private PostgreSQL."""
    folder = Path(tempfile.mkdtemp(prefix="bench-journal-"))
    counter = iter(range(1_000_000))
    try:
        body("SQLite", lambda: folder / f"runs{next(counter)}.db")
        if not args.no_postgresql:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs, at import, in containers
                import pgserver
            import psycopg

            server = pgserver.get_server(folder / "pg", cleanup_mode="stop")
            uri: str = server.get_uri()

            def database() -> str:
                name = f"journal_{next(counter)}"
                with psycopg.connect(uri, autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {name}")
                return urlunsplit(urlsplit(uri)._replace(path=f"/{name}"))

            try:
                body("PostgreSQL", database)
            finally:
                server.cleanup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
