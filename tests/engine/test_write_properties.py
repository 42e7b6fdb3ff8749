"""Property: for every action that writes, any sequence of lost responses, retries and
concurrent retries leaves exactly one write per intended item in the sandbox's store, and
the run log's account agrees with the store (issue 7). Kill -9 is in
test_write_properties_kill.py (subprocesses).

Each example draws the faults (lost writes, 5xx, dropped connections, their seed), the
retry policy, the loop's width and a sequence of retries (one at a time or two at once)
run while the faults last; then the faults stop and the lineage is retried to its end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.apps.bitly import request_retry
from connector.catalog import load_catalog
from connector.engine.executor import RunResult
from connector.engine.rate_budget import RateLimitSpec
from connector.engine.retry_policy import RetryPolicy
from connector.engine.retry_run import retry_run
from connector.engine.runlog import RunLog
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.errors import AlreadyRetried, InvalidConfiguration
from connector.sandbox.controls import Controls, Faults
from connector.sandbox.embedded import EmbeddedSandboxes, embedded_sandboxes

from .shorten_box import few_examples, stored_links

pytestmark = pytest.mark.slow

CATALOG = load_catalog()
_names = itertools.count()


@dataclass
class Scenario:
    """One writing action in a loop: its items, and how to read the store for them."""

    action: str
    inputs: dict[str, str]
    #: (sandboxes, example tag) -> the loop's items, after any setup the action needs
    items: Callable[[EmbeddedSandboxes, str], list[Any]]
    #: (sandboxes, items, outputs from the run log) -> None, asserting the store agrees
    check: Callable[[EmbeddedSandboxes, list[Any], list[Any]], None]


def _shorten_rows(boxes: EmbeddedSandboxes, like: str) -> list[tuple[str, str, str]]:
    return stored_links(boxes.apps["shorten_dev"], like)


def _bitly_rows(boxes: EmbeddedSandboxes, like: str) -> list[tuple[str, str, str, int]]:
    store = boxes.apps["bitly"].state.store
    with store.lock:
        rows = store.conn.execute(
            "SELECT key, long_url, title, deleted FROM links WHERE long_url LIKE ?", (like + "%",)
        ).fetchall()
    return [(str(a), str(b), str(c), int(d)) for a, b, c, d in rows]


def _url(tag: str, i: int) -> str:
    return f"https://prop.example/{tag}/{i}"


def _one_link_each(
    boxes: EmbeddedSandboxes, tag: str, wanted: list[str], outputs: list[Any]
) -> None:
    rows = _shorten_rows(boxes, f"https://prop.example/{tag}/")
    assert Counter(dest for _, dest, _ in rows) == Counter(wanted), rows
    slug_of = {dest: slug for slug, dest, _ in rows}
    got = [o["link"]["slug"] for o in outputs]
    assert got == [slug_of[u] for u in wanted]


def _create(boxes: EmbeddedSandboxes, tag: str) -> list[Any]:
    return [_url(tag, i) for i in range(4)]


def _check_create(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    _one_link_each(boxes, items[0].split("/")[3], items, outputs)


def _slugs(boxes: EmbeddedSandboxes, tag: str) -> list[Any]:
    return [{"slug": f"{tag}-s{i}", "url": _url(tag, i)} for i in range(4)]


def _check_slugs(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    _one_link_each(boxes, items[0]["url"].split("/")[3], [i["url"] for i in items], outputs)
    assert [o["link"]["slug"] for o in outputs] == [i["slug"] for i in items]


def _batches(boxes: EmbeddedSandboxes, tag: str) -> list[Any]:
    return [
        [{"destination_url": _url(tag, 2 * b)},
         {"destination_url": _url(tag, 2 * b + 1), "custom_slug": f"{tag}-b{b}"}]
        for b in range(3)
    ]  # fmt: skip


def _check_batches(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    tag = items[0][0]["destination_url"].split("/")[3]
    wanted = [link["destination_url"] for batch in items for link in batch]
    flat = [created for out in outputs for created in out["data"]]
    _one_link_each(boxes, tag, wanted, flat)


def _existing_shorten(boxes: EmbeddedSandboxes, tag: str) -> list[Any]:
    headers = {"Authorization": f"Bearer {boxes.credentials['shorten_dev']}"}
    with httpx.Client(base_url=boxes.base_urls["shorten_dev"], headers=headers) as client:
        return [
            client.post("/links", json={"destination_url": _url(tag, i)}).json()["link"]["slug"]
            for i in range(3)
        ]


def _check_revoked(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    tag = next(dest for slug, dest, _ in _all_shorten(boxes) if slug == items[0]).split("/")[3]
    rows = _shorten_rows(boxes, f"https://prop.example/{tag}/")
    assert sorted(slug for slug, _, _ in rows) == sorted(items)  # nothing created
    assert {status for _, _, status in rows} == {"revoked"}
    assert [o["link"]["status"] for o in outputs] == ["revoked"] * len(items)


def _all_shorten(boxes: EmbeddedSandboxes) -> list[tuple[str, str, str]]:
    return _shorten_rows(boxes, "https://prop.example/")


def _long_urls(boxes: EmbeddedSandboxes, tag: str) -> list[Any]:
    return [_url(tag, i) for i in range(4)]


def _check_bitlinks(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    rows = _bitly_rows(boxes, items[0].rsplit("/", 1)[0] + "/")
    assert Counter(url for _, url, _, _ in rows) == Counter(items), rows
    key_of = {url: key for key, url, _, _ in rows}
    assert [o["id"] for o in outputs] == [key_of[u] for u in items]


def _existing_bitly(boxes: EmbeddedSandboxes, tag: str) -> list[Any]:
    headers = {"Authorization": f"Bearer {boxes.credentials['bitly']}"}
    with httpx.Client(base_url=boxes.base_urls["bitly"], headers=headers) as client:
        return [
            client.post("/shorten", json={"long_url": _url(tag, i)}).json()["id"] for i in range(3)
        ]


def _bitly_by_key(boxes: EmbeddedSandboxes, keys: list[Any]) -> list[tuple[str, str, str, int]]:
    return [row for row in _bitly_rows(boxes, "https://prop.example/") if row[0] in keys]


def _check_updated(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    rows = _bitly_by_key(boxes, items)
    assert sorted(r[0] for r in rows) == sorted(items)
    assert {r[2] for r in rows} == {"renamed"}
    assert [o["title"] for o in outputs] == ["renamed"] * len(items)


def _check_deleted(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    rows = _bitly_by_key(boxes, items)
    assert {r[3] for r in rows} <= {1} and len(rows) in (0, len(items))
    assert [o["links_deleted"][0]["id"] for o in outputs] == items


def _bitly_named(boxes: EmbeddedSandboxes, sql: str, names: list[Any]) -> list[tuple[str, str]]:
    """(guid, name) rows of a Bitly sandbox table whose name is one of `names`."""
    store = boxes.apps["bitly"].state.store
    marks = ",".join("?" * len(names))
    with store.lock:
        rows = store.conn.execute(f"{sql} IN ({marks})", list(names)).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def _item_names(boxes: EmbeddedSandboxes, tag: str) -> list[Any]:
    return [f"{tag}-n{i}" for i in range(3)]


def _check_named(sql: str) -> Callable[[EmbeddedSandboxes, list[Any], list[Any]], None]:
    def check(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
        rows = _bitly_named(boxes, sql, items)
        assert Counter(name for _, name in rows) == Counter(items), rows
        guid_of = {name: guid for guid, name in rows}
        assert [o["guid"] for o in outputs] == [guid_of[n] for n in items]

    return check


_CAMPAIGNS = "SELECT guid, name FROM campaigns WHERE name"
_CHANNELS = "SELECT guid, name FROM channels WHERE name"
_WEBHOOKS = (
    "SELECT guid, json_extract(body, '$.name') FROM webhooks"
    " WHERE deleted = 0 AND json_extract(body, '$.name')"
)


def _custom_targets(boxes: EmbeddedSandboxes, tag: str) -> list[Any]:
    return [
        {"custom": f"sbx.ly/{tag}-c{i}", "bitlink": b}
        for i, b in enumerate(_existing_bitly(boxes, tag))
    ]


def _check_custom(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    store = boxes.apps["bitly"].state.store
    wanted = [i["custom"] for i in items]
    with store.lock:
        marks = ",".join("?" * len(wanted))
        rows = store.conn.execute(
            f"SELECT key, link_key FROM custom_bitlinks WHERE key IN ({marks})", wanted
        ).fetchall()
    assert sorted((str(k), str(v)) for k, v in rows) == sorted(
        (i["custom"], i["bitlink"]) for i in items
    )
    assert [o["bitlink"]["id"] for o in outputs] == [i["bitlink"] for i in items]


def _check_found_or_created(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    _check_bitlinks(boxes, items, [o["bitlink"] for o in outputs])
    # None existed before: after any lost answer the output still says "created".
    assert [o["outcome"] for o in outputs] == ["created"] * len(items)


def _url_batches(boxes: EmbeddedSandboxes, tag: str) -> list[Any]:
    # A URL twice in a batch, and across batches: each is shortened into one link.
    return [[_url(tag, 0), _url(tag, 1), _url(tag, 0)], [_url(tag, 2), _url(tag, 1)]]


def _check_many(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    wanted = {url for batch in items for url in batch}
    rows = _bitly_rows(boxes, next(iter(wanted)).rsplit("/", 1)[0] + "/")
    counts = Counter(url for _, url, _, _ in rows)
    assert set(counts) <= wanted and set(counts.values()) <= {1}, rows
    key_of = {url: key for key, url, _, _ in rows}
    for batch, out in zip(items, outputs, strict=True):
        assert [r["long_url"] for r in out["results"]] == batch
        for r in out["results"]:
            if r["ok"]:  # a URL that failed may still have landed, once
                assert r["bitlink"]["id"] == key_of[r["long_url"]]


_PROP_TAG = "prop-tag"


def _link_batches(boxes: EmbeddedSandboxes, tag: str) -> list[Any]:
    keys = _existing_bitly(boxes, tag)
    return [keys[:2], keys[2:]]


def _check_tagged(boxes: EmbeddedSandboxes, items: list[Any], outputs: list[Any]) -> None:
    store = boxes.apps["bitly"].state.store
    keys = [k for batch in items for k in batch]
    with store.lock:
        rows = store.conn.execute(
            f"SELECT key, tags FROM links WHERE key IN ({','.join('?' * len(keys))})", keys
        ).fetchall()
    assert len(rows) == len(keys)
    for _, tags in rows:
        assert json.loads(tags).count(_PROP_TAG) == 1, tags
    for batch, out in zip(items, outputs, strict=True):
        assert sorted(out["applied"] + out["unchanged"]) == sorted(batch), out


SCENARIOS = {
    "shorten_dev.create_link": Scenario(
        "shorten_dev.create_link", {"destination_url": "{{ item }}"}, _create, _check_create
    ),
    "shorten_dev.create_link+slug": Scenario(
        "shorten_dev.create_link",
        {"destination_url": "{{ item.url }}", "custom_slug": "{{ item.slug }}"},
        _slugs,
        _check_slugs,
    ),
    "shorten_dev.bulk_create_links": Scenario(
        "shorten_dev.bulk_create_links", {"links": "{{ item }}"}, _batches, _check_batches
    ),
    "shorten_dev.revoke_link": Scenario(
        "shorten_dev.revoke_link", {"slug": "{{ item }}"}, _existing_shorten, _check_revoked
    ),
    "bitly.shorten_link": Scenario(
        "bitly.shorten_link", {"long_url": "{{ item }}"}, _long_urls, _check_bitlinks
    ),
    "bitly.create_bitlink": Scenario(
        "bitly.create_bitlink",
        {"long_url": "{{ item }}", "title": "t"},
        _long_urls,
        _check_bitlinks,
    ),
    "bitly.update_bitlink": Scenario(
        "bitly.update_bitlink",
        {"bitlink": "{{ item }}", "title": "renamed"},
        _existing_bitly,
        _check_updated,
    ),
    "bitly.delete_bitlink": Scenario(
        "bitly.delete_bitlink", {"bitlink": "{{ item }}"}, _existing_bitly, _check_deleted
    ),
    "bitly.create_campaign": Scenario(
        "bitly.create_campaign",
        {"name": "{{ item }}", "group_guid": "Bdemo000001"},
        _item_names,
        _check_named(_CAMPAIGNS),
    ),
    "bitly.create_channel": Scenario(
        "bitly.create_channel",
        {"name": "{{ item }}", "group_guid": "Bdemo000001"},
        _item_names,
        _check_named(_CHANNELS),
    ),
    "bitly.create_webhook": Scenario(
        "bitly.create_webhook",
        {
            "organization_guid": "Odemo000001",
            "name": "{{ item }}",
            "event": "bitlink_click",
            "url": "https://hooks.example.com/prop",
        },
        _item_names,
        _check_named(_WEBHOOKS),
    ),
    "bitly.find_or_create_bitlink": Scenario(
        "bitly.find_or_create_bitlink",
        {"long_url": "{{ item }}"},
        _long_urls,
        _check_found_or_created,
    ),
    "bitly.shorten_many_urls": Scenario(
        "bitly.shorten_many_urls", {"urls": "{{ item }}"}, _url_batches, _check_many
    ),
    "bitly.archive_or_tag_links": Scenario(
        "bitly.archive_or_tag_links",
        {
            "group_guid": "Bdemo000001",
            "select_by": "list",
            "links": "{{ item }}",
            "change": "edit_tags",
            "add_tags": _PROP_TAG,
        },
        _link_batches,
        _check_tagged,
    ),
    "bitly.add_custom_bitlink": Scenario(
        "bitly.add_custom_bitlink",
        {"custom_bitlink": "{{ item.custom }}", "bitlink_id": "{{ item.bitlink }}"},
        _custom_targets,
        _check_custom,
    ),
}


def test_every_writing_action_has_a_scenario() -> None:
    writes = {
        a.id for a in CATALOG.actions.values()
        if a.write_safety is not None or not a.idempotent
    }  # fmt: skip
    assert writes == {s.action for s in SCENARIOS.values()}
    for action in CATALOG.actions.values():
        if not action.idempotent:
            assert action.write_safety is not None, f"{action.id} declares no write_safety"
            assert action.write_safety.strategy != "resend"


@pytest.fixture(scope="module")
def boxes() -> Iterator[EmbeddedSandboxes]:
    # The composites retry each request themselves: with the workflow's tiny waits here.
    fast = RetryPolicy(max_attempts=3, initial_delay=0.002, max_delay=0.005)
    with (
        pytest.MonkeyPatch.context() as patch,
        embedded_sandboxes(seed=None, controls=Controls()) as started,
    ):
        patch.setattr(request_retry, "DEFAULT_POLICY", fast)
        # Many examples create more than shorten.dev's 300 links an hour: no 429 waits here.
        started.apps["shorten_dev"].state.sandbox.creation_limit_per_hour = 1_000_000
        yield started


def _set_faults(boxes: EmbeddedSandboxes, faults: Faults) -> None:
    for app in boxes.apps.values():
        app.state.controls.controls.faults = faults


class Lineage:
    """A run and its retries, each through its own engine session (as separate processes
    would), always retrying the newest run of the chain."""

    def __init__(self, boxes: EmbeddedSandboxes, db: Path, rng: random.Random) -> None:
        self.boxes, self.db, self.rng = boxes, db, rng
        self.latest: RunResult | None = None

    async def _session_run(self, go: Callable[[Any], Any]) -> Any:
        async with engine_session(
            CATALOG,
            self.db,
            base_urls=self.boxes.base_urls,
            credentials=self.boxes.credentials,
            rng=random.Random(self.rng.random()),
            overrides={app: RateLimitSpec(concurrency=5) for app in self.boxes.base_urls},
        ) as engine:
            return await go(engine)

    def start(self, doc: dict[str, Any], items: list[Any]) -> None:
        workflow = validate_workflow(doc, CATALOG)
        self.latest = asyncio.run(self._session_run(lambda e: e.run(workflow, {"items": items})))

    def retry(self, at_once: int = 1) -> None:
        assert self.latest is not None
        if self.latest.ok:
            return
        parent = self.latest.run_id

        async def many() -> list[Any]:
            tries = [self._session_run(lambda e: retry_run(e, parent)) for _ in range(at_once)]
            return await asyncio.gather(*tries, return_exceptions=True)

        outcomes = asyncio.run(many())
        ran = [o for o in outcomes if isinstance(o, RunResult)]
        refused = [o for o in outcomes if isinstance(o, AlreadyRetried | InvalidConfiguration)]
        assert len(ran) == 1 and len(refused) == at_once - 1, outcomes
        assert all(
            r.child_run_id == ran[0].run_id for r in refused if isinstance(r, AlreadyRetried)
        )
        self.latest = ran[0]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@few_examples
@given(
    lost=st.sampled_from([0.0, 0.3, 0.6, 0.9]),
    errors=st.sampled_from([0.0, 0.2]),
    drops=st.sampled_from([0.0, 0.1]),
    seed=st.integers(0, 10_000),
    attempts=st.integers(1, 3),
    width=st.sampled_from([1, 3]),
    retries=st.lists(st.sampled_from([1, 2, 3]), max_size=3),
)
def test_one_write_per_item_whatever_is_lost_or_retried(
    boxes: EmbeddedSandboxes,
    name: str,
    lost: float,
    errors: float,
    drops: float,
    seed: int,
    attempts: int,
    width: int,
    retries: list[int],
) -> None:
    scenario = SCENARIOS[name]
    tag = f"p{next(_names)}"
    _set_faults(boxes, Faults())
    items = scenario.items(boxes, tag)
    doc = {
        "name": f"{name} under faults",
        "retry": {"max_attempts": attempts, "initial_delay": 0.002, "max_delay": 0.005},
        "steps": [
            {
                "id": "each",
                "loop": {"over": "{{ trigger.items }}", "batch_size": width,
                         "on_item_error": "continue"},
                "action": scenario.action,
                "inputs": scenario.inputs,
            }
        ],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as home:
        db = Path(home) / "runs.db"
        lineage = Lineage(boxes, db, random.Random(seed))
        _set_faults(boxes, Faults(lost_write_rate=lost, error_rate=errors, drop_rate=drops,
                                  seed=seed))  # fmt: skip
        lineage.start(doc, items)
        for at_once in retries:
            lineage.retry(at_once)
        _set_faults(boxes, Faults())
        for _ in range(3):
            lineage.retry()
        assert lineage.latest is not None and lineage.latest.ok, lineage.latest
        scenario.check(boxes, items, lineage.latest.output["items"])
        with RunLog(db, readonly=True) as log:
            writes = log.intents.of_lineage(log.lineage_of(lineage.latest.run_id))
        guarded = CATALOG.get(scenario.action).write_safety.strategy != "resend"
        # The log's account: one applied write per item for a guarded action, none open.
        assert sorted(w.index for w in writes) == (list(range(len(items))) if guarded else [])
        assert {w.state for w in writes} <= {"applied"}
