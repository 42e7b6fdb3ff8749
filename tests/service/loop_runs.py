"""A finished run of one big loop, written straight into a service's run log as the engine
writes one (item rows a page per transaction, the step's and the run's output holding the
loop's items by reference): a loop of 50,000 items in a couple of seconds, no API called."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.engine.loop_items import LoopItems
from connector.engine.runlog import ItemRecord, RunLog
from connector.lazy_array import PAGE


def is_failed(index: int) -> bool:
    """Which items of a written loop failed: every 7th."""
    return index % 7 == 3


def write_loop_run(
    runlog: Path | str,
    total: int,
    step_id: str = "shorten",
    *,
    running: bool = False,
    trigger: Any = None,
) -> str:
    """The id of a succeeded run of loop `step_id` over `total` URLs, every 7th failed, in
    the run log `runlog` (a SQLite file or a PostgreSQL URL); its output is `{"links": <the
    loop's items>, "count": total}`. With `running`, the run and its loop are still running
    (no summary yet; `write_items` adds more). `trigger`: its payload (default `{"total":
    total}`)."""
    with RunLog(runlog) as log:
        run_id = log.create_run(
            workflow={"name": "Many links", "steps": [{"id": step_id}]},
            trigger={"total": total} if trigger is None else trigger,
            source_path=None,
            parent_run_id=None,
            started_at=1.0,
        )
        if running:
            log.write_step(run_id, step_id, position=0, kind="loop", status="running",
                           definition={"id": step_id}, started_at=1.0)  # fmt: skip
        write_items(log, run_id, range(total), step_id)
        if running:
            return run_id
        failures = sum(1 for i in range(total) if is_failed(i))
        summary = {"total": total, "succeeded": total - failures, "failed": failures, "skipped": 0}
        items = LoopItems(log, run_id, step_id, total)
        log.write_step(run_id, step_id, position=0, kind="loop", status="succeeded",
                       definition={"id": step_id}, output={"items": items, "summary": summary},
                       summary=summary)  # fmt: skip
        log.finish_run(
            run_id, status="succeeded", finished_at=4.0, output={"links": items, "count": total}
        )
    return run_id


def write_items(log: RunLog, run_id: str, indices: range, step_id: str = "shorten") -> None:
    """Items `indices` of loop `step_id` (every 7th failed), a page per transaction."""
    for first in range(indices.start, indices.stop, PAGE):
        batch = []
        for index in range(first, min(indices.stop, first + PAGE)):
            url = f"https://example.com/page/{index}"
            failed = is_failed(index)
            batch.append(
                ItemRecord(
                    step_id=step_id,
                    index=index,
                    status="failed" if failed else "succeeded",
                    item=url,
                    inputs={"long_url": url},
                    output=None if failed else {"id": f"sbx.ly/{index:06x}", "n": index},
                    error={"message": "HTTP 503", "kind": "server"} if failed else None,
                    attempts=[{"attempt": 1, "result": "error" if failed else "ok"}],
                    started_at=2.0,
                    finished_at=3.0,
                    reused_from=None,
                )
            )
        log.write_items(run_id, batch)
