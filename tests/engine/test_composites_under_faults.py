"""Issue 10, acceptance 2: each composite Bitly action runs from the CLI against the Bitly
sandbox while 30% of requests fail (5xx answers and dropped connections before they are
handled) and 30% of writes are applied with their answer lost, and the sandbox's store ends
with no duplicate: one link per URL, each tag once, nothing written by a read.

`connector actions run` makes one attempt, so a user runs it again until it succeeds; `connector
run` retries inside the run (and `runs retry` after it). Both are exercised; every wait runs on
tiny delays, the composites' own per-request retries on a fake clock.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.apps.bitly import request_retry
from connector.cli import main
from connector.clock import FakeClock
from connector.engine.retry_policy import RetryPolicy
from connector.sandbox.bitly.app import create_app
from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SEED, SandboxConfig
from connector.sandbox.controls import Controls, Faults
from connector.sandbox.server import BackgroundServer

pytestmark = pytest.mark.slow

GROUP = "Bdemo000001"
PREFIX = "https://example.com/faults/"
#: 30% of requests fail before they are handled, 30% of writes lose their answer
FAULTS = {"error_rate": 0.15, "drop_rate": 0.15, "lost_write_rate": 0.3}


class FaultyBitly:
    def __init__(self) -> None:
        self.controls = Controls()
        self.app = create_app(SandboxConfig(seed=DEMO_SEED, controls=self.controls))
        self.server = BackgroundServer(self.app)

    def faults(self, seed: int | None) -> None:
        self.controls.faults = Faults() if seed is None else Faults(**FAULTS, seed=seed)

    def sql(self, query: str, args: tuple[Any, ...] = ()) -> list[Any]:
        store = self.app.state.store
        with store.lock:
            return list(store.conn.execute(query, args).fetchall())

    def links_per_url(self, prefix: str) -> Counter[str]:
        rows = self.sql("SELECT long_url FROM links WHERE long_url LIKE ?", (prefix + "%",))
        return Counter(str(r[0]) for r in rows)

    def count(self, key: str) -> int:
        return int(self.app.state.counts.get(key, 0))


@pytest.fixture
def bitly(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyBitly]:
    box = FaultyBitly()
    with box.server:
        monkeypatch.setenv("BITLY_API_URL", box.server.url + "/v4")
        monkeypatch.setenv("BITLY_TOKEN", DEMO_BITLY_TOKEN)
        policy = RetryPolicy(max_attempts=4, initial_delay=0.0, max_delay=0.0, jitter=0.0)
        monkeypatch.setattr(request_retry, "DEFAULT_POLICY", policy)
        monkeypatch.setattr(request_retry, "SystemClock", FakeClock)
        yield box


def run_until_done(
    capsys: pytest.CaptureFixture[str], action_id: str, inputs: dict[str, Any], tries: int = 12
) -> tuple[Any, int]:
    """`connector actions run` again and again, as a user would, until it exits 0."""
    for attempt in range(1, tries + 1):
        code = main(["actions", "run", action_id, "--inputs-json", json.dumps(inputs), "--json"])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        if code == 0:
            return json.loads(out), attempt
        assert code == 1 and err.count("\n") == 1, err  # a one-line API error, not bad input
    raise AssertionError(f"{action_id} failed {tries} times in a row")


@pytest.mark.parametrize("seed", [1, 2])
def test_find_or_create_in_a_workflow_makes_one_link_per_url(
    bitly: FaultyBitly, tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    existing = [f"{PREFIX}old/{seed}/{i}" for i in range(3)]
    for url in existing:
        run_until_done(capsys, "bitly.shorten_link", {"long_url": url})
    wanted = [f"{PREFIX}new/{seed}/{i}" for i in range(12)] + existing
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        yaml.safe_dump(
            {
                "name": "find or create each",
                "retry": {"max_attempts": 5, "initial_delay": 0.001, "max_delay": 0.002},
                "steps": [
                    {
                        "id": "each",
                        "loop": {"over": "{{ trigger.urls }}", "batch_size": 3,
                                 "on_item_error": "continue"},
                        "action": "bitly.find_or_create_bitlink",
                        "inputs": {"long_url": "{{ item }}"},
                    }
                ],
            }
        )
    )  # fmt: skip
    home = ["--home", str(tmp_path / "home")]
    bitly.faults(seed)
    code = main(["run", str(workflow), "--trigger", json.dumps({"urls": wanted}), *home, "--json"])
    result = json.loads(capsys.readouterr().out)
    for _ in range(3):  # items the faults outlasted: the lineage is retried, as a user would
        if code == 0:
            break
        code = main(["runs", "retry", result["run_id"], *home, "--json"])
        result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    bitly.faults(None)
    # the faults were real: creates were sent again after lost answers
    assert bitly.count("POST /v4/shorten") > 12 + len(existing)
    assert bitly.links_per_url(f"{PREFIX}new/{seed}/") == Counter(wanted[:12])
    assert bitly.links_per_url(f"{PREFIX}old/{seed}/") == Counter(existing)
    outputs = result["output"]["items"]
    assert [o["outcome"] for o in outputs] == ["created"] * 12 + ["found"] * 3
    assert [o["bitlink"]["long_url"] for o in outputs] == wanted


def test_shorten_many_run_again_until_done_leaves_one_link_per_url(
    bitly: FaultyBitly, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = [f"{PREFIX}many/{i % 25}" for i in range(40)]  # 25 distinct, 15 repeats
    bitly.faults(3)
    for _ in range(10):
        out, _ = run_until_done(capsys, "bitly.shorten_many_urls", {"urls": urls})
        # every run of a list, complete or not, leaves no URL with two links
        assert set(bitly.links_per_url(f"{PREFIX}many/").values()) <= {1}
        if out["failed"] == 0:
            break
    else:
        raise AssertionError("some URL failed in 10 runs")
    bitly.faults(None)
    assert bitly.count("POST /v4/shorten") > 25  # answers were lost, and URLs sent again
    assert bitly.links_per_url(f"{PREFIX}many/") == Counter(set(urls))
    ids = {r["long_url"]: r["bitlink"]["id"] for r in out["results"]}
    assert [r["bitlink"]["id"] for r in out["results"]] == [ids[u] for u in urls]


def test_bulk_tag_and_archive_under_faults_apply_once(
    bitly: FaultyBitly, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = [f"{PREFIX}bulk/{i}" for i in range(130)]
    made, _ = run_until_done(capsys, "bitly.shorten_many_urls", {"urls": urls})
    keys = [r["bitlink"]["id"] for r in made["results"]]
    bitly.faults(4)
    tag = {"group_guid": GROUP, "select_by": "list", "links": keys, "change": "edit_tags",
           "add_tags": ["reviewed"]}  # fmt: skip
    run_until_done(capsys, "bitly.archive_or_tag_links", tag)
    again, _ = run_until_done(capsys, "bitly.archive_or_tag_links", tag)
    assert again["changes"] == [] and sorted(again["unchanged"]) == sorted(keys)
    archive = {"group_guid": GROUP, "select_by": "tag", "tags": ["reviewed"], "change": "archive"}
    run_until_done(capsys, "bitly.archive_or_tag_links", archive)
    bitly.faults(None)
    # the faults were real: the two list selections' reads of 130 links were sent again
    assert bitly.count("GET /v4/bitlinks/{bitlink}") > 2 * len(keys), bitly.app.state.counts
    marks = ",".join("?" * len(keys))
    rows = bitly.sql(f"SELECT tags, archived FROM links WHERE key IN ({marks})", tuple(keys))
    assert len(rows) == len(keys)
    assert all(json.loads(tags).count("reviewed") == 1 and archived == 1 for tags, archived in rows)
    assert set(bitly.links_per_url(f"{PREFIX}bulk/").values()) == {1}


def test_reads_complete_under_faults_and_write_nothing(
    bitly: FaultyBitly, capsys: pytest.CaptureFixture[str]
) -> None:
    links_before = bitly.sql("SELECT COUNT(*), SUM(archived) FROM links")
    bitly.faults(5)
    report, _ = run_until_done(
        capsys, "bitly.campaign_performance_report", {"campaign_guid": "Cdemo000001"}
    )
    usage, _ = run_until_done(capsys, "bitly.get_usage_and_limits", {})
    dry, _ = run_until_done(
        capsys,
        "bitly.archive_or_tag_links",
        {"group_guid": GROUP, "select_by": "tag", "tags": ["sale"], "change": "archive",
         "dry_run": True},
    )  # fmt: skip
    bitly.faults(None)
    assert report["channels"] and report["totals"]["total_clicks"] > 0
    assert usage["monthly"] and dry["changes"] and dry["requests"] == 0
    assert bitly.sql("SELECT COUNT(*), SUM(archived) FROM links") == links_before
    assert bitly.count("PATCH /v4/groups/{group_guid}/bitlinks") == 0
