"""A run's items page by page, whatever the loop's size: `GET /v1/runs/{id}` answers a
loop of more than 10,000 items with its counts, a first page and the URL of the rest;
`/steps/{step}/items` pages forwards and back (every item once, in order) in memory that
does not grow with the loop; bad cursors and limits are problems naming the parameter; the
console's run page has previous and next links; the event stream tells each item once,
reading only past what it has told."""

from __future__ import annotations

import asyncio
import json
import re
import tracemalloc
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.engine.runlog import ItemRecord, RunLog
from connector.service import ServiceConfig
from connector.service.cursors import encode
from connector.service.item_pages import loop_counts
from connector.service.run_events import _Watcher

from .helpers import AUTH, KEY, client_for, wait_idle
from .loop_runs import is_failed, write_loop_run


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _pages(
    client: httpx.AsyncClient, url: str, cursor: str | None, key: str, **params: Any
) -> list[dict[str, Any]]:
    """Every page from `cursor`, following `key` (next_cursor or prev_cursor)."""
    pages = []
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        answer = await client.get(url, params=query, headers=AUTH)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        cursor = pages[-1][key]
        if cursor is None:
            return pages


def test_a_loop_of_more_than_ten_thousand_items_is_served_page_by_page(
    config: ServiceConfig, runlog_target: Path | str
) -> None:
    """On SQLite and on a shared PostgreSQL run log alike."""
    total = 12_345
    config = replace(config, runlog=runlog_target)
    run_id = write_loop_run(runlog_target, total)

    async def go() -> None:
        async with client_for(config) as client:
            answer = await client.get(f"/v1/runs/{run_id}", headers=AUTH)
            assert answer.status_code == 200, answer.text
            run = answer.json()
            failed = sum(1 for i in range(total) if is_failed(i))
            (step,) = run["steps"]
            assert step["items"]["counts"] == {"succeeded": total - failed, "failed": failed}
            assert [i["index"] for i in step["items"]["items"]] == list(range(100))
            assert step["items"]["prev_cursor"] is None and step["output"] is None
            url = f"/v1/runs/{run_id}/steps/shorten/items"
            assert step["items_url"] == url
            # the output's items are not inlined past a page: null, and where to read them
            assert run["output"] == {"links": None, "count": total}
            assert run["output_items"] == [
                {"path": ["links"], "step_id": "shorten", "count": total, "items_url": url}
            ]
            assert len(answer.content) < 200_000

            forwards = await _pages(client, url, None, "next_cursor", limit=1000)
            assert len(forwards) == 13
            seen = [i["index"] for p in forwards for i in p["items"]]
            assert seen == list(range(total))  # every item once, in order
            assert all(
                (i["output"] is None) == is_failed(i["index"])
                and (i["output"] is None or i["output"]["n"] == i["index"])
                for p in forwards
                for i in p["items"]
            )
            assert forwards[0]["prev_cursor"] is None
            assert all(p["prev_cursor"] for p in forwards[1:])
            # and back from the last page, page by page, to the first
            backwards = await _pages(
                client, url, forwards[-1]["prev_cursor"], "prev_cursor", limit=1000
            )
            back = [i["index"] for p in reversed(backwards) for i in p["items"]]
            assert back == list(range(12_000))
            assert [i["index"] for i in backwards[-1]["items"]] == list(range(1000))
            assert backwards[0]["next_cursor"] == forwards[-2]["next_cursor"]
            # only the failed ones, still every one once
            only = await _pages(client, url, None, "next_cursor", limit=500, status="failed")
            indices = [i["index"] for p in only for i in p["items"]]
            assert indices == [i for i in range(total) if is_failed(i)]
            assert all(i["error"]["message"] == "HTTP 503" for p in only for i in p["items"])

    _run(go())


def test_bad_cursors_and_limits_are_problems_naming_the_parameter(
    config: ServiceConfig,
) -> None:
    run_id = write_loop_run(config.runlog_target, 30)

    async def go() -> None:
        async with client_for(config) as client:
            url = f"/v1/runs/{run_id}/steps/shorten/items"
            for params, field in [
                ({"cursor": "%%%"}, "query.cursor"),
                ({"cursor": encode("x12")}, "query.cursor"),
                ({"cursor": encode("b")}, "query.cursor"),
                ({"cursor": "A" * 201}, "query.cursor"),
                ({"limit": 0}, "query.limit"),
                ({"limit": 1001}, "query.limit"),
                ({"limit": "ten"}, "query.limit"),
            ]:
                answer = await client.get(url, params=params, headers=AUTH)
                assert answer.status_code == 422, (params, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                assert [e["field"] for e in answer.json()["errors"]] == [field], params
            view = await client.get(f"/v1/runs/{run_id}", params={"items_limit": 0}, headers=AUTH)
            assert view.status_code == 422
            assert view.json()["errors"][0]["field"] == "query.items_limit"
            assert (
                await client.get(f"/v1/runs/{run_id}/steps/nope/items", headers=AUTH)
            ).status_code == 404
            assert (
                await client.get("/v1/runs/nope/steps/shorten/items", headers=AUTH)
            ).status_code == 404
            # past the end: an empty page that leads back
            end = await client.get(url, params={"cursor": encode("29")}, headers=AUTH)
            assert end.json()["items"] == [] and end.json()["next_cursor"] is None
            before = await client.get(
                url, params={"cursor": end.json()["prev_cursor"], "limit": 10}, headers=AUTH
            )
            assert [i["index"] for i in before.json()["items"]] == list(range(20, 30))
            # before the first item: the first page
            first = await client.get(
                url, params={"cursor": encode("b0"), "limit": 10}, headers=AUTH
            )
            assert [i["index"] for i in first.json()["items"]] == list(range(10))
            assert first.json()["prev_cursor"] is None

    _run(go())


def test_a_runs_output_inlines_a_loops_items_that_fit_in_a_page(config: ServiceConfig) -> None:
    """A real run (the engine, the sandbox): a loop's items in the output are a list when
    they fit in `items_limit`, else null and listed in `output_items`."""
    workflow = {
        "name": "Three links",
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.links }}"},
                "action": "bitly.get_bitlink",
                "inputs": {"bitlink": "{{ item }}"},
            }
        ],
        "output": {"found": "{{ steps.each.output.items }}"},
    }
    links = ["bit.ly/spring-sale", "bit.ly/docs-start", "bit.ly/spring-sale"]

    async def go() -> None:
        async with client_for(config) as client:
            body = {"workflow": workflow, "trigger": {"links": links}}
            started = await client.post("/v1/runs", json=body, headers=AUTH)
            assert started.status_code == 202, started.text
            run_id = started.json()["run_id"]
            await wait_idle(client)
            run = (await client.get(f"/v1/runs/{run_id}", headers=AUTH)).json()
            assert run["status"] == "succeeded", run
            assert [x["id"] for x in run["output"]["found"]] == links
            assert run["output_items"] == []
            small = await client.get(f"/v1/runs/{run_id}?items_limit=2", headers=AUTH)
            assert small.json()["output"] == {"found": None}
            (ref,) = small.json()["output_items"]
            assert ref["path"] == ["found"] and ref["count"] == 3
            items = (await client.get(ref["items_url"], headers=AUTH)).json()["items"]
            assert [i["output"] for i in items] == run["output"]["found"]

    _run(go())


@pytest.mark.slow
def test_paging_a_loop_takes_the_same_memory_at_5000_and_50000_items(
    config: ServiceConfig,
) -> None:
    sizes = (5_000, 50_000)
    runs = [write_loop_run(config.runlog_target, n) for n in sizes]

    async def read_all(client: httpx.AsyncClient, run_id: str) -> int:
        view = await client.get(f"/v1/runs/{run_id}", headers=AUTH)
        url = view.json()["steps"][0]["items_url"]
        cursor, count = None, 0
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(url, params=params, headers=AUTH)).json()
            count += len(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return count

    async def go() -> list[int]:
        peaks = []
        async with client_for(config) as client:
            await read_all(client, runs[0])  # warm: imports, caches, the first connection
            for run_id, n in zip(runs, sizes, strict=True):
                tracemalloc.start()
                try:
                    assert await read_all(client, run_id) == n
                    peaks.append(tracemalloc.get_traced_memory()[1])
                finally:
                    tracemalloc.stop()
        return peaks

    small, large = _run(go())
    # Holding the loop (or its output) would add hundreds of bytes an item: 20 MB here.
    assert large / small < 1.3, (small, large)
    assert (large - small) / 45_000 < 50, (small, large)


def test_the_console_pages_a_loop_with_previous_and_next_links(config: ServiceConfig) -> None:
    run_id = write_loop_run(config.runlog_target, 250)
    bigger = write_loop_run(config.runlog_target, 800)

    def indices(page: str) -> list[int]:
        return [int(i) for i in re.findall(r'class="item [^"]*" data-index="(\d+)"', page)]

    def link(page: str, rel: str) -> str | None:
        found = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
        return found.group(1).replace("&amp;", "&") if found else None

    async def go() -> None:
        async with client_for(config) as client:
            assert (await client.post("/signin", data={"api_key": KEY})).status_code == 303
            first = (await client.get(f"/runs/{run_id}")).text
            assert indices(first) == list(range(100)) and link(first, "prev") is None
            assert "Items 0&ndash;99 of 250" in first
            second = (await client.get(link(first, "next") or "")).text
            assert indices(second) == list(range(100, 200))
            third = (await client.get(link(second, "next") or "")).text
            assert indices(third) == list(range(200, 250)) and link(third, "next") is None
            back = (await client.get(link(third, "prev") or "")).text
            assert indices(back) == list(range(100, 200))
            assert indices((await client.get(link(back, "prev") or "")).text) == list(range(100))
            bad = await client.get(f"/runs/{run_id}", params={"step": "shorten", "cursor": "%"})
            assert bad.status_code == 422 and "cursor" in bad.text
            # only the failed items (every 7th: 36 of 250), paged the same way
            failed = [i for i in range(250) if is_failed(i)]
            only = re.search(r'<a href="([^"]+)">failed only \(36\)</a>', first)
            assert only, first
            page = (await client.get(only.group(1).replace("&amp;", "&"))).text
            assert indices(page) == failed and link(page, "next") is None
            assert "only <strong>failed</strong> (36)" in page
            # more failed items than a page: Next and Previous keep the filter
            failed = [i for i in range(800) if is_failed(i)]
            params = {"step": "shorten", "status": "failed"}
            start = (await client.get(f"/runs/{bigger}", params=params)).text
            assert indices(start) == failed[:100] and link(start, "prev") is None
            rest = (await client.get(link(start, "next") or "")).text
            assert indices(rest) == failed[100:] and link(rest, "next") is None
            assert indices((await client.get(link(rest, "prev") or "")).text) == failed[:100]

    _run(go())


def test_events_tell_every_item_of_a_big_loop_once_in_order(
    config: ServiceConfig, runlog_target: Path | str
) -> None:
    total = 12_345
    config = replace(config, runlog=runlog_target)
    run_id = write_loop_run(runlog_target, total)

    async def go() -> str:
        async with client_for(config) as client:
            answer = await client.get(f"/v1/runs/{run_id}/events", headers=AUTH)
            assert answer.status_code == 200
            return answer.text

    kinds, items = [], []
    for block in _run(go()).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            kinds.append(fields["event"])
            if fields["event"] == "item":
                items.append(json.loads(fields["data"])["index"])
    assert items == list(range(total))
    assert kinds[0] == "status" and kinds[-2:] == ["step", "end"]


def test_events_of_items_finishing_out_of_order(config: ServiceConfig) -> None:
    """Items finish out of order (five in flight at once): each is told once, and each look
    reads from the first item not yet told, not from the loop's start (nor counts its rows)."""
    with RunLog(config.runlog_target) as log:
        run_id = log.create_run(workflow={"name": "w", "steps": []}, trigger=None,
                                source_path=None, parent_run_id=None, started_at=1.0)  # fmt: skip
        log.write_step(run_id, "each", position=0, kind="loop", status="running",
                       definition={"id": "each"})  # fmt: skip
        reads: list[int] = []
        items = log.items

        def counted(*args: Any, **kw: Any) -> Any:
            reads.append(kw["after"])
            return items(*args, **kw)

        log.items = counted  # type: ignore[method-assign]
        watcher = _Watcher(run_id)

        def told(*indices: int) -> list[int]:
            for i in indices:
                log.write_item(run_id, ItemRecord("each", i, "succeeded", i, None, i, None,
                                                  [], 2.0, 3.0, None))  # fmt: skip
            return [data["index"] for kind, data in watcher.news(log) if kind == "item"]

        assert told(0, 1, 3, 4) == [0, 1, 3, 4]
        assert told(6) == [6]
        assert told() == []
        assert told(2, 5, 7) == [2, 5, 7]
        assert told(8) == [8]
        assert reads == [-1, 1, 1, 1, 7]
        watch = watcher.loops["each"]
        assert watch.below == 9 and watch.ahead == set()


def test_a_finished_loops_counts_are_its_summary_a_running_ones_its_rows(
    config: ServiceConfig,
) -> None:
    run_id = write_loop_run(config.runlog_target, 30)
    with RunLog(config.runlog_target) as log:
        (step,) = log.steps(run_id, outputs=False)
        rows = log.item_counts(run_id, "shorten")
        assert rows == {"succeeded": 26, "failed": 4}
        log.item_counts = None  # type: ignore[assignment,method-assign]
        assert loop_counts(log, step) == rows  # from the summary: no row counted
        for odd in (replace(step, status="running"),
                    replace(step, summary={**(step.summary or {}), "total": 31}),
                    replace(step, summary=None)):  # fmt: skip
            with pytest.raises(TypeError):  # counted (and here, counting is gone)
                loop_counts(log, odd)
