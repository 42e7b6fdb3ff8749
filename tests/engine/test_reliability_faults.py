"""Reliability under injected faults, against the real sandboxes over loopback.

Each test runs a loop of writes while the sandbox fails ~30% of requests (5xx before
handling, dropped connections) or applies writes and then cuts the connection (lost
writes). The proof of "no duplicate write" is the sandbox's own state, not the engine's
word: its link tables and its request counts.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector.catalog import load_catalog
from connector.engine.executor import RunResult
from connector.engine.rate_budget import RateLimitSpec
from connector.engine.runlog import ItemRecord
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.sandbox.controls import Controls, Faults
from connector.sandbox.embedded import EmbeddedSandboxes, embedded_sandboxes

pytestmark = pytest.mark.slow

# Tiny waits keep the suite fast; five attempts is the product's ceiling.
FAST_RETRY = {"max_attempts": 5, "initial_delay": 0.005, "multiplier": 2, "max_delay": 0.02}
SHORTEN_KEY = "POST /v4/shorten"


def _loop_doc(action: str, inputs: dict[str, Any], batch_size: int) -> dict[str, Any]:
    return {
        "name": f"loop of {action}",
        "retry": FAST_RETRY,
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.items }}", "batch_size": batch_size},
                "action": action,
                "inputs": inputs,
            }
        ],
    }


def _run(
    doc: dict[str, Any], trigger: Any, home: Path, boxes: EmbeddedSandboxes
) -> tuple[RunResult, list[ItemRecord]]:
    catalog = load_catalog()
    workflow = validate_workflow(doc, catalog)

    async def go() -> tuple[RunResult, list[ItemRecord]]:
        async with engine_session(
            catalog,
            home / "runs.db",
            base_urls=boxes.base_urls,
            credentials=boxes.credentials,
            rng=random.Random(5),
            # The manifests' per-minute pacing (a burst of 50, then ~1 request a second)
            # is tested in test_reliability_throttle; here only faults are in the way.
            overrides={app: RateLimitSpec(concurrency=5) for app in boxes.base_urls},
        ) as engine:
            result = await engine.run(workflow, trigger)
            return result, list(engine.runlog.items(result.run_id, "each"))

    return asyncio.run(go())


def _bitlinks_per_long_url(boxes: EmbeddedSandboxes, urls: list[str]) -> Counter[str]:
    store = boxes.apps["bitly"].state.store
    marks = ",".join("?" * len(urls))
    with store.lock:
        rows = store.conn.execute(
            f"SELECT long_url FROM links WHERE long_url IN ({marks})", urls
        ).fetchall()
    return Counter(row[0] for row in rows)


def _urls(tag: str, n: int) -> list[str]:
    return [f"https://example.com/{tag}/page-{i:03d}?utm_source=test" for i in range(n)]


def _check_all_shortened(
    result: RunResult, items: list[ItemRecord], urls: list[str], boxes: EmbeddedSandboxes
) -> list[int]:
    assert result.ok, result.error
    assert result.output["summary"] == {
        "total": len(urls),
        "succeeded": len(urls),
        "failed": 0,
        "skipped": 0,
    }
    # Every item ended with a success within the 5-attempt ceiling.
    assert [i.status for i in items] == ["succeeded"] * len(urls)
    attempts = [len(i.attempts) for i in items]
    assert max(attempts) <= 5
    assert [o["long_url"] for o in result.output["items"]] == urls
    # No link created twice: exactly one bitlink per distinct long URL in the sandbox.
    per_url = _bitlinks_per_long_url(boxes, urls)
    assert per_url == Counter({u: 1 for u in urls}), per_url
    ids = [o["id"] for o in result.output["items"]]
    assert len(set(ids)) == len(urls)
    return attempts


def test_shorten_loop_under_30pct_5xx_and_drops_creates_each_link_once(tmp_path: Path) -> None:
    # 15% 500/502/503 and 15% of the rest dropped: ~28% of requests fail. One item at a
    # time, so the fault sequence (seeded) and therefore the test are deterministic.
    faults = Faults(error_rate=0.15, drop_rate=0.15, seed=21)
    urls = _urls("faults", 40)
    doc = _loop_doc("bitly.shorten_link", {"long_url": "{{ item }}"}, batch_size=1)
    with embedded_sandboxes(controls=Controls(faults=faults)) as boxes:
        result, items = _run(doc, {"items": urls}, tmp_path, boxes)
        counts = Counter(boxes.apps["bitly"].state.counts)
        attempts = _check_all_shortened(result, items, urls, boxes)
    # The faults really happened and were really retried: every request the sandbox saw
    # is an attempt in the run log, and some items needed three or more.
    assert counts[SHORTEN_KEY] == sum(attempts)
    assert sum(attempts) >= 50 and max(attempts) >= 3
    statuses = Counter(a.get("status") for i in items for a in i.attempts)
    assert statuses[None] > len(urls)  # the successes plus the dropped connections
    assert {500, 502, 503} & set(statuses)


def test_shorten_loop_under_lost_writes_and_5xx_creates_each_link_once(tmp_path: Path) -> None:
    # Writes applied and then the answer lost, plus 5xx: the engine retries the shorten
    # (idempotent by design) and the sandbox still holds one bitlink per URL. One item at a
    # time keeps the seeded fault sequence, and so the test, deterministic: with five in
    # flight, which item draws which fault depends on arrival order, and a 1-in-100 item
    # failing all five attempts would make the test flaky rather than wrong.
    faults = Faults(error_rate=0.1, drop_rate=0.05, lost_write_rate=0.3, seed=4)
    urls = _urls("lost", 40)
    doc = _loop_doc("bitly.shorten_link", {"long_url": "{{ item }}"}, batch_size=1)
    with embedded_sandboxes(controls=Controls(faults=faults)) as boxes:
        result, items = _run(doc, {"items": urls}, tmp_path, boxes)
        counts = Counter(boxes.apps["bitly"].state.counts)
        attempts = _check_all_shortened(result, items, urls, boxes)
    lost = [
        a for i in items for a in i.attempts if (a.get("error") or {}).get("kind") == "transport"
    ]
    assert len(lost) >= 5, "lost writes were injected and retried"
    assert counts[SHORTEN_KEY] == sum(attempts)


def test_shorten_dev_custom_slugs_under_lost_writes_exist_once(tmp_path: Path) -> None:
    faults = Faults(error_rate=0.1, drop_rate=0.05, lost_write_rate=0.35, seed=8)
    slugs = [f"rel-{i:03d}" for i in range(30)]
    doc = _loop_doc(
        "shorten_dev.create_link",
        {"destination_url": "https://example.org/dest/{{ item }}", "custom_slug": "{{ item }}"},
        batch_size=1,  # deterministic fault sequence, as above
    )
    with embedded_sandboxes(controls=Controls(faults=faults)) as boxes:
        result, items = _run(doc, {"items": slugs}, tmp_path, boxes)
        store = boxes.apps["shorten_dev"].state.store
        with store.lock:
            rows = store.conn.execute(
                "SELECT slug, destination_url FROM links WHERE destination_url LIKE ?",
                ("https://example.org/dest/%",),
            ).fetchall()
        counts = Counter(boxes.apps["shorten_dev"].state.counts)
    assert result.ok, result.error
    assert [i.status for i in items] == ["succeeded"] * len(slugs)
    # Each slug once, with its own destination, and no stray link (an auto slug) at all.
    assert sorted(rows) == [(s, f"https://example.org/dest/{s}") for s in slugs]
    assert [o["link"]["slug"] for o in result.output["items"]] == slugs
    calls = Counter(a.get("call", "request") for i in items for a in i.attempts)
    assert calls["reconcile"] >= 3, "lost writes were resolved by reading the slug back"
    # A write retried blindly after a lost answer would come back 409 and fail the item;
    # none did, and the sandbox served exactly the attempts the run log records.
    assert sum(counts.values()) == sum(len(i.attempts) for i in items)
    assert all((a.get("error") or {}).get("kind") != "conflict" for i in items for a in i.attempts)
