"""Bitly's polling triggers on the sandbox: nothing missed, nothing repeated, no replay of
history on a first poll, and the CLI's state file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.api import poll_trigger
from connector.catalog import Catalog
from connector.cli import main
from connector.errors import InvalidInput, NotFound
from connector.sandbox.config import FROZEN_INSTANT
from connector.sandbox.controls import Controls
from connector.sandbox.embedded import EmbeddedSandboxes, embedded_sandboxes

GROUP = "Bdemo000001"


class Clock:
    """The sandbox's time, moved by the test."""

    def __init__(self) -> None:
        self.now = FROZEN_INSTANT

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def boxes(clock: Clock) -> Iterator[EmbeddedSandboxes]:
    # No rate limits: the test itself creates hundreds of links.
    with embedded_sandboxes(controls=Controls(), now=clock) as started:
        yield started


def poll(
    catalog: Catalog,
    boxes: EmbeddedSandboxes,
    trigger: str,
    inputs: dict[str, Any],
    state: dict[str, Any] | None,
    **kwargs: Any,
) -> tuple[list[Any], dict[str, Any]]:
    result = asyncio.run(
        poll_trigger(
            trigger,
            inputs,
            state,
            catalog=catalog,
            base_urls=dict(boxes.base_urls),
            credentials=dict(boxes.credentials),
            **kwargs,
        )
    )
    return result.events, result.state


def create_links(
    boxes: EmbeddedSandboxes, count: int, tag: str, between: Callable[[], None] | None = None
) -> list[str]:
    """`count` new links in the group, created through the API, in order; their ids."""
    headers = {"Authorization": f"Bearer {boxes.credentials['bitly']}"}
    ids = []
    with httpx.Client(base_url=boxes.base_urls["bitly"], headers=headers) as client:
        for i in range(count):
            url = f"https://example.com/{tag}/{i}"
            answer = client.post("/bitlinks", json={"long_url": url, "group_guid": GROUP})
            assert answer.status_code in (200, 201), answer.text
            ids.append(answer.json()["id"])
            if between is not None:
                between()
    return ids


def click(boxes: EmbeddedSandboxes, bitlink: str, times: int) -> None:
    with httpx.Client(base_url=boxes.roots["bitly"]) as client:
        for _ in range(times):
            assert client.get(f"/{bitlink}").status_code in (301, 302)


@pytest.mark.slow
@pytest.mark.parametrize("seconds_apart", [0.0, 0.01], ids=["same-second", "spread"])
def test_500_links_between_two_polls_are_returned_exactly_once(
    catalog: Catalog, boxes: EmbeddedSandboxes, clock: Clock, seconds_apart: float
) -> None:
    """More links than a page holds (list_group_bitlinks reads 50 a page) arrive between two
    polls, all in the boundary's second or spread over seconds: exactly those, oldest first."""
    trigger, inputs = "bitly.new_bitlink", {"group_guid": GROUP}
    events, state = poll(catalog, boxes, trigger, inputs, None)
    assert events == []  # the first poll does not replay the demo links

    def tick() -> None:
        clock.now += seconds_apart

    created = create_links(boxes, 500, "burst", tick)
    events, state = poll(catalog, boxes, trigger, inputs, state)
    assert [e["id"] for e in events] == created

    events, state = poll(catalog, boxes, trigger, inputs, state)
    assert events == []


def test_a_link_created_in_the_boundary_second_after_a_poll_is_new(
    catalog: Catalog, boxes: EmbeddedSandboxes
) -> None:
    # The clock stands still: every link shares one creation second with the last one seen.
    trigger, inputs = "bitly.new_bitlink", {"group_guid": GROUP}
    _, state = poll(catalog, boxes, trigger, inputs, None)
    first = create_links(boxes, 3, "one")
    events, state = poll(catalog, boxes, trigger, inputs, state)
    assert [e["id"] for e in events] == first
    second = create_links(boxes, 2, "two")
    events, state = poll(catalog, boxes, trigger, inputs, state)
    assert [e["id"] for e in events] == second


def test_replay_returns_the_existing_links_once(catalog: Catalog, boxes: EmbeddedSandboxes) -> None:
    trigger, inputs = "bitly.new_bitlink", {"group_guid": GROUP}
    events, state = poll(catalog, boxes, trigger, inputs, None, replay=True)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) > 1
    assert "bit.ly/spring-sale" in ids
    assert poll(catalog, boxes, trigger, inputs, state)[0] == []


def test_new_click_activity_reports_the_delta(
    catalog: Catalog, boxes: EmbeddedSandboxes, clock: Clock
) -> None:
    for inputs in ({"bitlink": "bit.ly/spring-sale"}, {"group_guid": GROUP}):
        events, state = poll(catalog, boxes, "bitly.new_click_activity", inputs, None)
        assert events == []
        before = state["total"]
        clock.now += 60
        click(boxes, "bit.ly/spring-sale", 4)
        events, state = poll(catalog, boxes, "bitly.new_click_activity", inputs, state)
        assert [(e["previous_total"], e["total_clicks"], e["delta"]) for e in events] == [
            (before, before + 4, 4)
        ]
        assert poll(catalog, boxes, "bitly.new_click_activity", inputs, state)[0] == []


def test_new_click_activity_takes_one_target(catalog: Catalog, boxes: EmbeddedSandboxes) -> None:
    with pytest.raises(InvalidInput, match="exactly one of bitlink and group_guid"):
        poll(catalog, boxes, "bitly.new_click_activity", {}, None)


def test_click_threshold_fires_once_when_crossed(
    catalog: Catalog, boxes: EmbeddedSandboxes, clock: Clock
) -> None:
    trigger = "bitly.click_threshold_reached"
    _, state = poll(
        catalog, boxes, trigger, {"bitlink": "bit.ly/spring-sale", "threshold": 1}, None
    )
    total = state["total"]
    inputs = {"bitlink": "bit.ly/spring-sale", "threshold": total + 3}
    events, state = poll(catalog, boxes, trigger, inputs, None)
    assert events == [] and state["reached"] is False
    clock.now += 60
    click(boxes, "bit.ly/spring-sale", 2)
    events, state = poll(catalog, boxes, trigger, inputs, state)
    assert events == []
    click(boxes, "bit.ly/spring-sale", 2)
    events, state = poll(catalog, boxes, trigger, inputs, state)
    assert [(e["threshold"], e["total_clicks"]) for e in events] == [(total + 3, total + 4)]
    click(boxes, "bit.ly/spring-sale", 1)
    assert poll(catalog, boxes, trigger, inputs, state)[0] == []


def test_a_link_already_past_the_threshold_fires_only_on_replay(
    catalog: Catalog, boxes: EmbeddedSandboxes
) -> None:
    inputs = {"bitlink": "bit.ly/spring-sale", "threshold": 1}
    assert poll(catalog, boxes, "bitly.click_threshold_reached", inputs, None)[0] == []
    events, _ = poll(catalog, boxes, "bitly.click_threshold_reached", inputs, None, replay=True)
    assert [e["id"] for e in events] == ["bit.ly/spring-sale>=1"]


def test_a_failed_poll_is_the_apis_error(catalog: Catalog, boxes: EmbeddedSandboxes) -> None:
    with pytest.raises(NotFound, match="Bnope"):
        poll(catalog, boxes, "bitly.new_bitlink", {"group_guid": "Bnope"}, None)


# ------------------------------------------------------------------------- the CLI


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_keeps_the_state_in_a_file(
    cli_sandbox: EmbeddedSandboxes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "new_bitlink.json"
    args = ["triggers", "poll", "bitly.new_bitlink", "--input", f"group_guid={GROUP}"]
    args += ["--state", str(state), "--sandbox", "--json"]
    code, out, err = run_cli(args, capsys)
    assert (code, err, json.loads(out)["events"]) == (0, "", [])
    kept = json.loads(state.read_text())
    assert kept["trigger"] == "bitly.new_bitlink" and kept["state"] == json.loads(out)["state"]

    created = create_links(cli_sandbox, 3, "cli")
    code, out, err = run_cli(args, capsys)
    assert code == 0 and [e["id"] for e in json.loads(out)["events"]] == created
    code, out, err = run_cli(args, capsys)
    assert code == 0 and json.loads(out)["events"] == []
    assert [p.name for p in tmp_path.iterdir()] == [state.name]  # no partial file left


def test_cli_failed_poll_leaves_the_state_file(
    cli_sandbox: EmbeddedSandboxes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    kept = {"trigger": "bitly.new_bitlink", "inputs": {"group_guid": "Bnope"}}
    kept["state"] = {"since": 0, "seen": []}
    state.write_text(json.dumps(kept))
    before = state.read_bytes()
    args = ["triggers", "poll", "bitly.new_bitlink", "--input", "group_guid=Bnope"]
    code, out, err = run_cli([*args, "--state", str(state), "--sandbox"], capsys)
    assert (code, out) == (1, "")
    assert "NOT_FOUND" in err and err.count("\n") == 1
    assert state.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"trigger": "bitly.new_bitlink"}', "not a trigger state file"),
        (
            '{"trigger": "bitly.new_bitlink", "inputs": {"group_guid": "Bother"}, "state": {}}',
            "with other inputs",
        ),
        (
            '{"trigger": "bitly.new_bitlink", "inputs": {"group_guid": "Bdemo000001"}, '
            '"state": {"since": "x"}}',
            "not a New Bitlink state",
        ),
    ],
)
def test_cli_refuses_a_bad_state_file(
    cli_sandbox: EmbeddedSandboxes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    state = tmp_path / "state.json"
    state.write_text(content)
    args = ["triggers", "poll", "bitly.new_bitlink", "--input", f"group_guid={GROUP}"]
    code, out, err = run_cli([*args, "--state", str(state), "--sandbox"], capsys)
    assert (code, out) == (2, "")
    assert message in err and err.count("\n") == 1
    assert state.read_text() == content


def test_cli_refuses_an_action_that_is_not_a_trigger(
    cli_sandbox: EmbeddedSandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["triggers", "poll", "bitly.get_user", "--sandbox"], capsys)
    assert (code, out) == (2, "")
    assert "not a trigger" in err
