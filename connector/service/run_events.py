"""`GET /v1/runs/{run_id}/events`: a run's progress as server-sent events, read from the
run log (the one record of a run, whichever process runs it: the service, the CLI or a
worker sharing the log). Events, each `event: <kind>` with JSON data:

- `status` first: {run_id, status}
- `step` when a step starts or changes status: {step_id, kind, status, summary}
- `item` once per finished loop item: {step_id, index, status, error}
- `end` last, when the run has ended: {run_id, status, failed_step, error}

A comment line is sent every `KEEPALIVE` seconds so proxies keep the stream open."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from connector.engine.runlog import RunLog
from connector.redact import dumps_redacted
from connector.service.models import Problem
from connector.service.run_lookup import get_run
from connector.service.state import ServiceState, State

__all__ = ["router"]

router = APIRouter(tags=["runs"])

KEEPALIVE = 15.0


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


def _event(number: int, kind: str, data: dict[str, Any]) -> bytes:
    # masked like every JSON answer; one line of JSON, as SSE data lines cannot hold newlines
    return f"id: {number}\nevent: {kind}\ndata: {dumps_redacted(data)}\n\n".encode()


class _LoopWatch:
    """What a stream has told of one loop's items: every index below `below`, and those in
    `ahead`, which finished past one still running (a few: items finish out of order only
    within the loop's concurrency). So the stream holds no set of a million indices, and
    each look reads only from `below` on, not the loop from its start."""

    def __init__(self) -> None:
        self.below = 0
        self.ahead: set[int] = set()

    def told(self, index: int) -> None:
        self.ahead.add(index)
        while self.below in self.ahead:
            self.ahead.remove(self.below)
            self.below += 1


class _Watcher:
    """What a stream has already told its client, and what is new since."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.steps: dict[str, tuple[str, str]] = {}
        self.loops: dict[str, _LoopWatch] = {}

    def news(self, log: RunLog) -> Iterator[tuple[str, dict[str, Any]]]:
        """New events, read as they are sent (a loop's items a page at a time), and last
        the run's `end` if it has ended."""
        # The status is read first: if it says ended, every step and item read after it
        # is final, so the end event comes after all of them.
        run = get_run(log, self.run_id, trigger=False)
        for step in log.steps(self.run_id, outputs=False):
            state = (step.status, json.dumps(step.summary, sort_keys=True))
            if step.kind == "loop":
                yield from self._items(log, step.step_id)
            if self.steps.get(step.step_id) != state:
                self.steps[step.step_id] = state
                yield (
                    "step",
                    {
                        "step_id": step.step_id,
                        "kind": step.kind,
                        "status": step.status,
                        "summary": step.summary,
                    },
                )
        status = run.display_status
        if status != "running":
            end = {"run_id": run.id, "status": status, "failed_step": run.failed_step}
            yield "end", end | {"error": run.error}

    def _items(self, log: RunLog, step_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        watch = self.loops.setdefault(step_id, _LoopWatch())
        # Read from the first item not told: a few rows when nothing is new (counting the
        # loop's rows to find out would read all of them)
        for item in log.items(self.run_id, step_id, after=watch.below - 1):
            if item.index < watch.below or item.index in watch.ahead:
                continue  # told already (`below` moves on as gaps fill, within a read too)
            watch.told(item.index)
            yield (
                "item",
                {"step_id": step_id, "index": item.index, "status": item.status,
                 "error": item.error},
            )  # fmt: skip


async def _stream(state: ServiceState, run_id: str, request: Request) -> AsyncIterator[bytes]:
    watcher = _Watcher(run_id)
    number = 0
    # One run-log connection for the stream's life (a PostgreSQL log is not reconnected at
    # every poll); each read sees what was committed since.
    with state.runlog() as log:
        first = get_run(log, run_id, trigger=False)
        number += 1
        yield _event(number, "status", {"run_id": run_id, "status": first.display_status})
        quiet_since = time.monotonic()
        while True:
            found = False
            for kind, data in watcher.news(log):
                number += 1
                yield _event(number, kind, data)
                if kind == "end":
                    return
                found = True
            if found:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE:
                quiet_since = time.monotonic()
                yield b": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(state.config.events_poll)


@router.get(
    "/runs/{run_id}/events",
    response_class=EventStream,
    responses={
        200: {
            "description": "server-sent events: status, step, item, end",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        404: {"model": Problem},
    },
)
async def run_events(run_id: str, request: Request, state: State) -> EventStream:
    """The run's progress as server-sent events, ending with its final status."""
    with state.runlog() as log:
        get_run(log, run_id, trigger=False)  # a 404 before the stream starts
    return EventStream(
        _stream(state, run_id, request),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
