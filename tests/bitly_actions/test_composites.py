"""The composite Bitly actions' behaviour: what each promises, on the sandbox or on a scripted
API (for errors the sandbox does not make on demand)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from connector import errors as E
from connector.apps.bitly import request_retry
from connector.catalog import load_catalog
from connector.cli import main
from connector.clock import FakeClock
from connector.engine.retry_policy import RetryPolicy
from connector.runner import ActionRunner
from connector.sandbox import embedded
from connector.sandbox.bitly.app import create_app
from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SEED, SandboxConfig
from connector.sandbox.controls import Controls
from connector.sandbox.server import BackgroundServer

CATALOG = load_catalog()
GROUP = "Bdemo000001"


class Box:
    """A seeded Bitly sandbox without rate limits, its store and request counts at hand."""

    def __init__(self) -> None:
        self.app = create_app(SandboxConfig(seed=DEMO_SEED, controls=Controls()))
        self.server = BackgroundServer(self.app)

    @property
    def base_url(self) -> str:
        return self.server.url + "/v4"

    def runner(self) -> ActionRunner:
        return ActionRunner(
            CATALOG,
            base_urls={"bitly": self.base_url},
            credentials={"bitly": DEMO_BITLY_TOKEN},
            env={},
        )

    def run(self, action_id: str, inputs: dict[str, Any]) -> Any:
        async def go() -> Any:
            async with self.runner() as runner:
                return await runner.run(action_id, CATALOG.prepare_inputs(action_id, inputs, {}))

        return asyncio.run(go())

    def count(self, key: str) -> int:
        return int(self.app.state.counts.get(key, 0))

    def sql(self, query: str, args: tuple[Any, ...] = ()) -> list[Any]:
        store = self.app.state.store
        with store.lock:
            return list(store.conn.execute(query, args).fetchall())


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    found = Box()
    with found.server:
        yield found


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # No test really waits: a throttle's 60 s window passes on a fake clock.
    policy = RetryPolicy(max_attempts=3, initial_delay=0.0, max_delay=0.0, jitter=0.0)
    monkeypatch.setattr(request_retry, "DEFAULT_POLICY", policy)
    monkeypatch.setattr(request_retry, "SystemClock", FakeClock)


# -- a scripted API ------------------------------------------------------------------------

Script = Callable[[httpx.Request], httpx.Response]


@asynccontextmanager
async def scripted(script: Script, budget: Any = None) -> AsyncIterator[ActionRunner]:
    async with ActionRunner(
        CATALOG,
        base_urls={"bitly": "http://bitly.test/v4"},
        credentials={"bitly": "scripted-token-0000"},
        budgets={"bitly": budget} if budget is not None else None,
        transport=httpx.MockTransport(script),
        env={},
    ) as runner:
        yield runner


def run_scripted(script: Script, action_id: str, inputs: dict[str, Any], budget: Any = None) -> Any:
    async def go() -> Any:
        async with scripted(script, budget) as runner:
            return await runner.run(action_id, CATALOG.prepare_inputs(action_id, inputs, {}))

    return asyncio.run(go())


def answer(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)


def link(key: str, url: str) -> dict[str, Any]:
    return {"id": key, "link": f"https://{key}", "long_url": url, "references": {}}


# -- Find or Create Bitlink ----------------------------------------------------------------


def test_find_or_create_creates_once_then_finds(box: Box) -> None:
    url = "https://example.com/composite/find-me"
    first = box.run("bitly.find_or_create_bitlink", {"long_url": url})
    again = box.run("bitly.find_or_create_bitlink", {"long_url": url})
    assert (first["outcome"], first["created"]) == ("created", True)
    assert (again["outcome"], again["created"]) == ("found", False)
    assert again["bitlink"]["id"] == first["bitlink"]["id"]
    assert box.sql("SELECT COUNT(*) FROM links WHERE long_url = ?", (url,))[0][0] == 1


def test_a_known_bitlink_answering_404_means_create(box: Box) -> None:
    url = "https://example.com/composite/was-deleted"
    out = box.run("bitly.find_or_create_bitlink", {"long_url": url, "bitlink": "bit.ly/gone-777"})
    assert out["created"] and out["bitlink"]["long_url"] == url
    found = box.run(
        "bitly.find_or_create_bitlink", {"long_url": url, "bitlink": out["bitlink"]["id"]}
    )
    assert found["outcome"] == "found"


def test_a_known_bitlink_pointing_elsewhere_is_refused(box: Box) -> None:
    with pytest.raises(E.InvalidInput, match="points at"):
        box.run(
            "bitly.find_or_create_bitlink",
            {"long_url": "https://example.com/other", "bitlink": "bit.ly/spring-sale"},
        )


def test_archived_links_are_found_not_duplicated(box: Box) -> None:
    url = "https://example.com/composite/archived"
    made = box.run("bitly.shorten_link", {"long_url": url})
    box.run("bitly.update_bitlink", {"bitlink": made["id"], "archived": True})
    out = box.run("bitly.find_or_create_bitlink", {"long_url": url})
    assert out["outcome"] == "found" and out["bitlink"]["id"] == made["id"]


_LOOKUP_ERRORS = [
    (401, {"message": "UNAUTHORIZED"}, E.AuthenticationError),
    (403, {"message": "FORBIDDEN"}, E.AuthenticationError),
    (403, {"message": "RATE_LIMIT_EXCEEDED"}, E.Throttled),
    (429, {"message": "MONTHLY_RATE_LIMIT_EXCEEDED"}, E.QuotaExhausted),
    (429, {"message": "RATE_LIMIT_EXCEEDED"}, E.Throttled),
    (500, {"message": "INTERNAL_ERROR"}, E.ServerError),
    (503, {"message": "TEMPORARILY_UNAVAILABLE"}, E.ServerError),
]


@pytest.mark.parametrize("known", [True, False], ids=["by-bitlink", "by-search"])
@pytest.mark.parametrize(("status", "body", "raised"), _LOOKUP_ERRORS)
def test_any_lookup_error_but_404_is_that_error_and_nothing_is_created(
    known: bool, status: int, body: Any, raised: type[Exception]
) -> None:
    # Pipedream's defect: a 401 or 429 taken as "not found", and a duplicate created.
    sent: list[str] = []

    def script(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        if request.url.path == "/v4/user":
            return answer(200, {"default_group_guid": GROUP})
        return answer(status, body)

    inputs: dict[str, Any] = {"long_url": "https://example.com/x"}
    if known:
        inputs["bitlink"] = "bit.ly/abc1234"
    with pytest.raises(raised) as caught:
        run_scripted(script, "bitly.find_or_create_bitlink", inputs)
    assert isinstance(caught.value, E.ActionError) and caught.value.write_applied is False
    assert not [s for s in sent if s.startswith("POST")], sent


def test_find_or_create_reconcile_reads_the_link_back(box: Box) -> None:
    url = "https://example.com/composite/reconcile"

    async def reconcile() -> Any:
        async with box.runner() as runner:
            prepared = CATALOG.prepare_inputs("bitly.find_or_create_bitlink", {"long_url": url}, {})
            return await runner.reconcile("bitly.find_or_create_bitlink", prepared)

    assert asyncio.run(reconcile()) is None  # not there: the create provably did not land
    made = box.run("bitly.shorten_link", {"long_url": url})
    read = asyncio.run(reconcile())
    assert read["outcome"] == "created" and read["bitlink"]["id"] == made["id"]


# -- Shorten Many URLs ---------------------------------------------------------------------


def test_shorten_many_keeps_order_and_shortens_a_duplicate_once(box: Box) -> None:
    urls = [f"https://example.com/composite/many/{i}" for i in (1, 2, 1, 3, 2)]
    before = box.count("POST /v4/shorten")
    out = box.run("bitly.shorten_many_urls", {"urls": [*urls, "ftp://example.com/no"]})
    assert box.count("POST /v4/shorten") - before == 3  # the bad URL is never sent
    results = out["results"]
    assert [r["long_url"] for r in results] == [*urls, "ftp://example.com/no"]
    assert [r["index"] for r in results] == list(range(6))
    assert [r.get("duplicate_of") for r in results[:5]] == [None, None, 0, None, 1]
    assert results[2]["bitlink"] == results[0]["bitlink"]
    assert results[5]["ok"] is False and results[5]["error"]["kind"] == "invalid_input"
    assert (out["total"], out["distinct"], out["succeeded"], out["failed"]) == (6, 4, 5, 1)
    for url in set(urls):
        assert box.sql("SELECT COUNT(*) FROM links WHERE long_url = ?", (url,))[0][0] == 1


def test_shorten_many_retries_each_url_and_reports_each_failure() -> None:
    tries: dict[str, int] = {}

    def script(request: httpx.Request) -> httpx.Response:
        url = json.loads(request.content)["long_url"]
        tries[url] = tries.get(url, 0) + 1
        if url.endswith("/flaky") and tries[url] < 3:
            return answer(502, {"message": "BAD_GATEWAY"})
        if url.endswith("/refused"):
            return answer(400, {"message": "INVALID_ARG_LONG_URL", "description": "bad"})
        return answer(200, link("bit.ly/" + url.rsplit("/", 1)[1][:7], url))

    urls = ["https://example.com/ok", "https://example.com/flaky", "https://example.com/refused"]
    out = run_scripted(script, "bitly.shorten_many_urls", {"urls": urls})
    ok, flaky, refused = out["results"]
    assert (ok["ok"], ok["attempts"]) == (True, 1)
    assert (flaky["ok"], flaky["attempts"]) == (True, 3)
    assert refused["ok"] is False and refused["attempts"] == 1  # a 400 is not retried
    assert refused["error"] == {
        "kind": "invalid_request",
        "message": refused["error"]["message"],
        "status": 400,
        "code": "INVALID_ARG_LONG_URL",
    }
    assert (out["succeeded"], out["failed"]) == (2, 1)


def test_shorten_many_stops_sending_after_a_bad_token() -> None:
    sent: list[str] = []

    def script(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content)["long_url"])
        return answer(403, {"message": "FORBIDDEN"})

    urls = [f"https://example.com/t/{i}" for i in range(5)]
    out = run_scripted(script, "bitly.shorten_many_urls", {"urls": urls})
    assert len(sent) == 1
    assert [r["error"]["kind"] for r in out["results"]] == ["authentication"] * 5
    assert [r["attempts"] for r in out["results"]] == [1, 0, 0, 0, 0]


class CountingBudget:
    """A shared budget that records every slot taken and the most held at once."""

    concurrency = 2

    def __init__(self) -> None:
        self.slots = 0
        self.held = 0
        self.most = 0

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        self.slots += 1
        self.held += 1
        self.most = max(self.most, self.held)
        try:
            await asyncio.sleep(0.001)
            yield
        finally:
            self.held -= 1

    def slot(self, method: str = "", path: str = "") -> Any:
        return self._slot()

    def throttled(self, retry_after: float | None) -> None:
        pass


def test_shorten_many_sends_every_request_through_the_shared_budget() -> None:
    sent: list[str] = []

    def script(request: httpx.Request) -> httpx.Response:
        url = json.loads(request.content)["long_url"]
        sent.append(url)
        if len(sent) == 2:
            return answer(503, {"message": "TEMPORARILY_UNAVAILABLE"})
        return answer(200, link("bit.ly/x" + url[-3:], url))

    budget = CountingBudget()
    urls = [f"https://example.com/b/{i:03d}" for i in range(8)]
    out = run_scripted(script, "bitly.shorten_many_urls", {"urls": urls}, budget)
    assert out["succeeded"] == 8
    assert budget.slots == len(sent) == 9  # the retry took a slot too
    assert budget.most == 2  # never more in flight than the budget's concurrency


# -- Archive or Tag Links in Bulk ----------------------------------------------------------


def _make_links(box: Box, tag: str, n: int) -> list[str]:
    out = box.run(
        "bitly.shorten_many_urls",
        {"urls": [f"https://example.com/bulk/{tag}/{i}" for i in range(n)]},
    )
    keys = [r["bitlink"]["id"] for r in out["results"]]
    box.run(
        "bitly.update_group_bitlinks",
        {"group_guid": GROUP, "action": "edit_tags", "links": keys[:100], "add_tags": [tag]},
    )
    if n > 100:
        box.run(
            "bitly.update_group_bitlinks",
            {"group_guid": GROUP, "action": "edit_tags", "links": keys[100:], "add_tags": [tag]},
        )
    return keys


def _archived(box: Box, keys: list[str]) -> list[int]:
    marks = ",".join("?" * len(keys))
    return [
        r[0] for r in box.sql(f"SELECT archived FROM links WHERE key IN ({marks})", tuple(keys))
    ]


def test_bulk_archive_by_tag_in_chunks_of_100_and_again_changes_nothing(box: Box) -> None:
    keys = _make_links(box, "bulk150", 150)
    inputs = {"group_guid": GROUP, "select_by": "tag", "tags": ["bulk150"], "change": "archive"}
    before = box.count("PATCH /v4/groups/{group_guid}/bitlinks")
    plan = box.run("bitly.archive_or_tag_links", {**inputs, "dry_run": True})
    assert box.count("PATCH /v4/groups/{group_guid}/bitlinks") == before  # nothing written
    assert plan["dry_run"] and plan["requests"] == 0 and plan["applied"] == []
    assert sorted(c["id"] for c in plan["changes"]) == sorted(keys)
    assert plan["changes"][0]["before"] == {"archived": False}
    assert set(_archived(box, keys)) == {0}

    done = box.run("bitly.archive_or_tag_links", inputs)
    assert done["requests"] == 2 and sorted(done["applied"]) == sorted(keys)
    assert box.count("PATCH /v4/groups/{group_guid}/bitlinks") - before == 2
    assert set(_archived(box, keys)) == {1}

    again = box.run("bitly.archive_or_tag_links", inputs)  # a retry: harmless, nothing sent
    assert (again["requests"], again["changes"]) == (0, [])
    assert sorted(again["unchanged"]) == sorted(keys)
    restored = box.run("bitly.archive_or_tag_links", {**inputs, "change": "unarchive"})
    assert restored["requests"] == 2 and set(_archived(box, keys)) == {0}


def test_bulk_tags_by_list_skip_unknown_links(box: Box) -> None:
    keys = _make_links(box, "bulklist", 3)
    out = box.run(
        "bitly.archive_or_tag_links",
        {
            "group_guid": GROUP,
            "select_by": "list",
            "links": [f"https://{keys[0]}", keys[1], keys[1], "bit.ly/nope-123"],
            "change": "edit_tags",
            "add_tags": ["q3"],
            "remove_tags": ["bulklist"],
        },
    )
    assert sorted(out["applied"]) == sorted(keys[:2])
    assert out["skipped"] == [{"id": "bit.ly/nope-123", "reason": "not found"}]
    tags = dict(box.sql("SELECT key, tags FROM links WHERE key IN (?, ?, ?)", tuple(keys)))
    assert json.loads(tags[keys[0]]) == ["q3"] and json.loads(tags[keys[2]]) == ["bulklist"]


def test_bulk_selects_by_creation_date(box: Box) -> None:
    keys = _make_links(box, "bulkdate", 2)
    created = [r[0] for r in box.sql("SELECT created_ts FROM links WHERE key = ?", (keys[0],))]
    out = box.run(
        "bitly.archive_or_tag_links",
        {
            "group_guid": GROUP,
            "select_by": "created",
            "created_after": int(created[0]) - 1,
            "change": "edit_tags",
            "add_tags": ["fresh"],
            "dry_run": True,
        },
    )
    assert set(keys) <= {c["id"] for c in out["changes"]}
    assert all(c["after"]["tags"][-1] == "fresh" for c in out["changes"])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"select_by": "tag", "change": "archive"}, "tags: select_by tag needs at least one tag"),
        ({"select_by": "created", "change": "archive"}, "created_after: select_by created needs"),
        ({"select_by": "list", "change": "archive"}, "links: select_by list needs at least one"),
        (
            {"select_by": "list", "links": ["bit.ly/a/../b"], "change": "archive"},
            "links[0]:",
        ),
        ({"select_by": "tag", "tags": ["x"], "change": "edit_tags"}, "needs add_tags or"),
        (
            {
                "select_by": "tag",
                "tags": ["x"],
                "change": "edit_tags",
                "add_tags": ["a"],
                "remove_tags": ["a"],
            },
            "a: a tag cannot be added and removed at once",
        ),
    ],
)
def test_bulk_bad_inputs_are_one_line_exit_2(
    inputs: dict[str, Any],
    message: str,
    box: Box,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BITLY_API_URL", box.base_url)
    monkeypatch.setenv("BITLY_TOKEN", DEMO_BITLY_TOKEN)
    raw = json.dumps({"group_guid": GROUP, **inputs})
    code = main(["actions", "run", "bitly.archive_or_tag_links", "--inputs-json", raw])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err


# -- Campaign Performance Report -----------------------------------------------------------


def test_the_report_rolls_links_up_per_channel_and_in_total(box: Box) -> None:
    report = box.run(
        "bitly.campaign_performance_report", {"campaign_guid": "Cdemo000001", "units": 60}
    )
    assert report["campaign"]["name"] and report["period"]["units"] == 60
    per_link: dict[str, int] = {}
    for channel in report["channels"]:
        ids = [link["id"] for link in channel["links"]]
        assert channel["link_count"] == len(ids)
        assert channel["total_clicks"] == sum(link["total_clicks"] for link in channel["links"])
        assert channel["total_clicks"] == sum(b["clicks"] for b in channel["clicks_by_date"])
        for facet in ("countries", "referrers"):
            assert sum(r["clicks"] for r in channel[facet]) <= channel["total_clicks"]
        per_link.update({link["id"]: link["total_clicks"] for link in channel["links"]})
    totals = report["totals"]
    # a link in two channels counts once in the campaign
    assert totals["link_count"] == len(per_link) < sum(c["link_count"] for c in report["channels"])
    assert totals["total_clicks"] == sum(per_link.values()) > 0
    one = next(iter(per_link))
    alone = box.run("bitly.get_link_click_metrics", {"bitlink": one, "units": 60})
    assert alone["total_clicks"] == per_link[one]


# -- Get Usage and Limits ------------------------------------------------------------------


def test_usage_says_what_is_left_this_hour_and_this_month(box: Box) -> None:
    first = box.run("bitly.get_usage_and_limits", {"endpoint": "shorten"})
    box.run("bitly.shorten_link", {"long_url": "https://example.com/composite/usage"})
    then = box.run("bitly.get_usage_and_limits", {"endpoint": "/v4/shorten"})
    assert then["organization_guid"] == "Odemo000001"
    (hour_before,), (hour,) = first["hourly"], then["hourly"]
    assert (hour["endpoint"], hour["method"]) == ("/v4/shorten", "POST")
    assert hour["used_this_hour"] == hour_before["used_this_hour"] + 1
    assert hour["remaining_this_hour"] == hour["limit_per_hour"] - hour["used_this_hour"]
    assert hour["limit_per_minute"] == hour["limit_per_hour"] // 10
    month = {m["name"]: m for m in then["monthly"]}
    before = {m["name"]: m for m in first["monthly"]}
    assert month["encodes"]["used_this_month"] == before["encodes"]["used_this_month"] + 1
    for figure in then["monthly"]:
        assert figure["remaining_this_month"] == figure["limit"] - figure["used_this_month"]
        assert figure["resets_at"].endswith("-01T00:00:00Z")
    assert then["exhausted"] == []


def test_usage_names_what_is_exhausted() -> None:
    def script(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/platform_limits"):
            methods = [{"name": "POST", "limit": 100, "count": 100}]
            return answer(
                200, {"platform_limits": [{"endpoint": "/v4/shorten", "methods": methods}]}
            )
        assert request.url.path == "/v4/organizations/Oabc/plan_limits"
        figures = [{"name": "encodes", "limit": 50, "count": 50, "description": "links"}]
        return answer(200, {"plan_limits": figures})

    out = run_scripted(script, "bitly.get_usage_and_limits", {"organization_guid": "Oabc"})
    assert out["exhausted"] == ["POST /v4/shorten", "encodes"]
    assert out["hourly"][0]["remaining_this_hour"] == 0


def test_every_composite_runs_from_the_cli_on_the_sandbox(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `connector actions run bitly.X --sandbox`, as acceptance 2 reads (the catalog-derived
    # suite runs them too, with their replay inputs; these are a user's).
    with embedded.embedded_sandboxes() as boxes:
        monkeypatch.setattr(embedded, "embedded_sandboxes", lambda **_: _same(boxes))
        for action_id, inputs in [
            ("bitly.find_or_create_bitlink", {"long_url": "https://example.com/cli"}),
            ("bitly.shorten_many_urls", {"urls": "https://example.com/c1,https://example.com/c2"}),
            ("bitly.campaign_performance_report", {"campaign_guid": "Cdemo000001"}),
            (
                "bitly.archive_or_tag_links",
                {
                    "group_guid": GROUP,
                    "select_by": "tag",
                    "tags": "sale",
                    "change": "archive",
                    "dry_run": "true",
                },
            ),
            ("bitly.get_usage_and_limits", {}),
        ]:
            pairs = [a for k, v in inputs.items() for a in ("--input", f"{k}={v}")]
            code = main(["actions", "run", action_id, *pairs, "--sandbox", "--json"])
            out, err = capsys.readouterr()
            assert (code, err) == (0, ""), (action_id, err)
            assert isinstance(json.loads(out), dict)


class _same:
    """The already started sandboxes, as the context manager `--sandbox` enters."""

    def __init__(self, boxes: Any) -> None:
        self.boxes = boxes

    def __enter__(self) -> Any:
        return self.boxes

    def __exit__(self, *exc: object) -> None:
        return None
