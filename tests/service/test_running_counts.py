"""A running loop's counts in the service's views: right after every write (several
writers, out of order, on SQLite and PostgreSQL), and each view counts again only the rows
that can still change, not the loop (runlog_items_counts.py)."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connector.clock import FakeClock
from connector.engine.runlog import ItemRecord, RunLog
from connector.engine.runlog_items_counts import BLOCK, LoopCounts
from connector.service import ServiceConfig

from .helpers import AUTH, KEY, client_for

STEP = "shorten"
STATUSES = ("succeeded", "failed", "skipped")


def _config(tmp_path: Path, runlog: Path | str) -> ServiceConfig:
    return ServiceConfig(
        home=tmp_path / "home", api_keys=(KEY,), clock=FakeClock(), credentials={}, runlog=runlog
    )


def _running_loop(runlog: Path | str) -> str:
    """A run whose one loop step is running and has no item yet."""
    with RunLog(runlog) as log:
        run_id = log.create_run(
            workflow={"name": "Many links", "steps": [{"id": STEP}]},
            trigger={"n": 1},
            source_path=None,
            parent_run_id=None,
            started_at=1.0,
        )
        log.write_step(run_id, STEP, position=0, kind="loop", status="running",
                       definition={"id": STEP}, started_at=1.0)  # fmt: skip
    return run_id


def _status(index: int) -> str:
    return STATUSES[0] if index % 5 else STATUSES[1 + index % 2]


def _item(index: int) -> ItemRecord:
    status = _status(index)
    return ItemRecord(STEP, index, status, f"u{index}", None, None if status != "succeeded"
                      else {"n": index}, None, [], 2.0, 3.0, None)  # fmt: skip


def _write(runlog: Path | str, run_id: str, indices: list[int]) -> None:
    with RunLog(runlog) as log:
        log.write_items(run_id, [_item(i) for i in indices])


def _expected(indices: list[int]) -> dict[str, int]:
    return dict(sorted(Counter(_status(i) for i in indices).items()))


def test_a_running_loops_counts_are_right_after_each_write_and_views_count_only_what_changes(
    tmp_path: Path, runlog_target: Path | str
) -> None:
    """Through `GET /v1/runs/{id}` and `/items`: items written between views, out of order
    (a block filled last, a block left with a hole), and a view after the first reads at
    most the blocks still being written."""
    run_id = _running_loop(runlog_target)
    config = _config(tmp_path, runlog_target)
    total = 8 * BLOCK + 100
    order = list(range(total))
    random.Random(7).shuffle(order[: 2 * BLOCK])  # the first two blocks filled out of order
    hole = 5 * BLOCK + 17  # one block stays one item short until the end
    order.remove(hole)
    # the writes, between which the views are read: uneven batches, the hole at the end
    batches = [order[:300], order[300 : 2 * BLOCK], order[2 * BLOCK : 6 * BLOCK],
               order[6 * BLOCK :], [hole]]  # fmt: skip

    async def go() -> None:
        async with client_for(config) as client:
            counts: LoopCounts = client.app.state.service.loop_counts  # type: ignore[attr-defined]
            view = await client.get(f"/v1/runs/{run_id}", headers=AUTH)
            assert view.status_code == 200, view.text
            assert view.json()["steps"][0]["items"]["counts"] == {}
            written: list[int] = []
            for batch in batches:
                _write(runlog_target, run_id, batch)
                written += batch
                before = counts.rows_read
                view = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
                read = counts.rows_read - before
                assert view["status"] == "running"
                assert view["steps"][0]["items"]["counts"] == _expected(written), len(written)
                with RunLog(runlog_target) as log:
                    assert view["steps"][0]["items"]["counts"] == log.item_counts(run_id, STEP)
                # what a view counts: the blocks not yet full (and those just filled), never
                # again a block that was full at the view before
                full_before = {b for b in range(total // BLOCK + 1)
                               if sum(1 for i in written[: -len(batch)] if i // BLOCK == b)
                               == BLOCK}  # fmt: skip
                assert read == sum(1 for i in written if i // BLOCK not in full_before)
                page = await client.get(
                    f"/v1/runs/{run_id}/steps/{STEP}/items", params={"limit": 5}, headers=AUTH
                )
                assert page.json()["counts"] == _expected(written)
            # nothing new: the view reads the one partial block at the end, not the loop
            before = counts.rows_read
            await client.get(f"/v1/runs/{run_id}", headers=AUTH)
            assert counts.rows_read - before == total % BLOCK

    asyncio.run(go())


def test_counts_are_right_and_never_go_back_while_several_writers_fill_one_loop(
    tmp_path: Path, runlog_target: Path | str
) -> None:
    """Three writers (each its own connection, as Temporal workers are) write interleaved
    ranges of one loop while views are read: each view's counts are at least the last
    one's, status by status, and the view after the last write is exact."""
    run_id = _running_loop(runlog_target)
    total = 6 * BLOCK + 333
    parts = [list(range(w, total, 3)) for w in range(3)]  # every block gets all three
    errors: list[BaseException] = []

    def writer(indices: list[int]) -> None:
        try:
            for start in range(0, len(indices), 200):
                _write(runlog_target, run_id, indices[start : start + 200])
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in parts]
    running = LoopCounts()
    seen: list[dict[str, int]] = []
    with RunLog(runlog_target) as log:
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            seen.append(running.counts(log, run_id, STEP))
        for thread in threads:
            thread.join()
        assert not errors, errors
        seen.append(running.counts(log, run_id, STEP))
        again = running.counts(log, run_id, STEP)
        fresh = LoopCounts().counts(log, run_id, STEP)
    assert seen[-1] == again == fresh == _expected(list(range(total)))
    for earlier, later in itertools.pairwise(seen):
        assert all(later.get(s, 0) >= n for s, n in earlier.items()), (earlier, later)


def test_kept_counts_are_bounded_and_forgotten_when_the_loop_finishes(tmp_path: Path) -> None:
    runlog = tmp_path / "runs.db"
    run_ids = [_running_loop(runlog) for _ in range(3)]
    for run_id in run_ids:
        _write(runlog, run_id, list(range(BLOCK)))
    running = LoopCounts(loops=2)
    with RunLog(runlog) as log:
        for run_id in run_ids:
            assert running.counts(log, run_id, STEP) == _expected(list(range(BLOCK)))
        kept: dict[Any, Any] = running._kept  # the least recently viewed is dropped
        assert list(kept) == [(r, STEP) for r in run_ids[1:]]
        running.forget(run_ids[2], STEP)
        assert list(kept) == [(run_ids[1], STEP)]
        before = running.rows_read
        assert running.counts(log, run_ids[0], STEP) == _expected(list(range(BLOCK)))
        assert running.rows_read - before == BLOCK  # counted again, then kept again
        before = running.rows_read
        running.counts(log, run_ids[0], STEP)
        assert running.rows_read == before


def test_a_block_with_a_status_that_may_still_change_is_counted_again(tmp_path: Path) -> None:
    """Only rows whose status is final are kept: a row of another status (a future engine's
    `running` marker) leaves its block counted at every view."""
    runlog = tmp_path / "runs.db"
    run_id = _running_loop(runlog)
    records = [replace(_item(i), status="running" if i == 3 else _status(i)) for i in range(BLOCK)]
    with RunLog(runlog) as log:
        log.write_items(run_id, records)
        running = LoopCounts()
        first = running.counts(log, run_id, STEP)
        assert first["running"] == 1
        log.write_items(run_id, [_item(3)])
        before = running.rows_read
        assert running.counts(log, run_id, STEP) == _expected(list(range(BLOCK)))
        assert running.rows_read - before == BLOCK


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_a_finished_loop_is_counted_from_its_summary_and_forgotten(
    tmp_path: Path, status: str
) -> None:
    runlog = tmp_path / "runs.db"
    run_id = _running_loop(runlog)
    _write(runlog, run_id, list(range(BLOCK + 5)))
    config = _config(tmp_path, runlog)

    async def go() -> None:
        async with client_for(config) as client:
            counts: LoopCounts = client.app.state.service.loop_counts  # type: ignore[attr-defined]
            await client.get(f"/v1/runs/{run_id}", headers=AUTH)
            assert (run_id, STEP) in counts._kept
            expected = _expected(list(range(BLOCK + 5)))
            summary = {"total": BLOCK + 5, "skipped": 0, **expected}
            with RunLog(runlog) as log:
                log.write_step(run_id, STEP, position=0, kind="loop", status=status,
                               definition={"id": STEP}, started_at=1.0, finished_at=2.0,
                               summary=summary)  # fmt: skip
            before = counts.rows_read
            view = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
            assert view["steps"][0]["items"]["counts"] == expected
            assert counts.rows_read == before and (run_id, STEP) not in counts._kept

    asyncio.run(go())
