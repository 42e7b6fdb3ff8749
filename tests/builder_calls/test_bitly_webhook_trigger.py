"""Bitly's Link Clicked webhook trigger on the sandbox: subscribe creates the webhook (with
the hook URL and the group), unsubscribe deletes it (twice is harmless), the sandbox's
deliveries of real clicks parse into events valid against the declared output, and a
malformed delivery is refused naming its field."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from connector.api import parse_delivery, subscribe_webhook, unsubscribe_webhook
from connector.catalog import Catalog
from connector.cli import main
from connector.errors import InvalidInput
from connector.sandbox.bitly.webhook_deliveries import click_deliveries
from connector.sandbox.controls import Controls
from connector.sandbox.embedded import EmbeddedSandboxes, embedded_sandboxes
from connector.triggers import event_key

TRIGGER = "bitly.link_clicked"
ORG, GROUP = "Odemo000001", "Bdemo000001"
URL = "https://hooks.example.com/v1/hooks/hk_test.secret"


@pytest.fixture
def boxes() -> Iterator[EmbeddedSandboxes]:
    with embedded_sandboxes(controls=Controls()) as started:
        yield started


def _targets(boxes: EmbeddedSandboxes) -> dict[str, Any]:
    return {"base_urls": dict(boxes.base_urls), "credentials": dict(boxes.credentials)}


def _hooks(boxes: EmbeddedSandboxes) -> dict[str, dict[str, Any]]:
    store = boxes.apps["bitly"].state.store
    with store.lock:
        rows = store.conn.execute("SELECT body FROM webhooks WHERE deleted = 0").fetchall()
    return {h["guid"]: h for h in (json.loads(r["body"]) for r in rows)}


def test_subscribe_creates_the_webhook_and_unsubscribe_deletes_it(
    catalog: Catalog, boxes: EmbeddedSandboxes
) -> None:
    counts = boxes.apps["bitly"].state.counts
    inputs = {"organization_guid": ORG, "group_guid": GROUP}
    before = set(_hooks(boxes))
    sub = asyncio.run(subscribe_webhook(TRIGGER, inputs, URL, catalog=catalog, **_targets(boxes)))
    (guid,) = set(_hooks(boxes)) - before
    assert sub == {"webhook_guid": guid}
    hook = _hooks(boxes)[guid]
    assert (hook["url"], hook["group_guid"], hook["event"]) == (URL, GROUP, "bitlink_click")
    assert counts["POST /v4/webhooks"] == 1
    asyncio.run(unsubscribe_webhook(TRIGGER, inputs, sub, catalog=catalog, **_targets(boxes)))
    assert guid not in _hooks(boxes) and counts["DELETE /v4/webhooks/{webhook_guid}"] == 1
    # Disabling again (the webhook already gone at Bitly) is not an error.
    asyncio.run(unsubscribe_webhook(TRIGGER, inputs, sub, catalog=catalog, **_targets(boxes)))
    assert counts["DELETE /v4/webhooks/{webhook_guid}"] == 2


def test_subscribe_refuses_a_polling_trigger_and_bad_inputs(
    catalog: Catalog, boxes: EmbeddedSandboxes
) -> None:
    with pytest.raises(InvalidInput, match=r"bitly\.new_bitlink is a polling trigger"):
        asyncio.run(
            subscribe_webhook("bitly.new_bitlink", {}, URL, catalog=catalog, **_targets(boxes))
        )
    with pytest.raises(InvalidInput, match="organization_guid"):
        asyncio.run(subscribe_webhook(TRIGGER, {}, URL, catalog=catalog, **_targets(boxes)))


def test_deliveries_of_real_clicks_parse_into_valid_events(
    catalog: Catalog, boxes: EmbeddedSandboxes
) -> None:
    inputs = {"organization_guid": ORG, "group_guid": GROUP}
    sub = asyncio.run(subscribe_webhook(TRIGGER, inputs, URL, catalog=catalog, **_targets(boxes)))
    store = boxes.apps["bitly"].state.store
    with store.lock:
        (last,) = store.conn.execute("SELECT coalesce(max(id), 0) FROM clicks").fetchone()
    root = boxes.roots["bitly"]
    with httpx.Client(follow_redirects=False) as client:
        for referrer in ("https://news.example.org/", None):
            headers = {"Referer": referrer} if referrer else {}
            assert client.get(f"{root}/bit.ly/spring-sale", headers=headers).status_code == 301
    mine = [d for d in click_deliveries(store, after_click=last) if d.url == URL]
    assert len(mine) == 2 and all(d.webhook_guid == sub["webhook_guid"] for d in mine)
    schema = catalog.get(TRIGGER).output_schema
    events = [asyncio.run(parse_delivery(TRIGGER, d.payload, catalog=catalog)) for d in mine]
    for event in events:
        jsonschema.validate(event, schema)
        assert event["bitlink"] == "bit.ly/spring-sale" and event["group_guid"] == GROUP
    assert events[0]["referrer"] == "https://news.example.org/"
    keys = {event_key(catalog.get(TRIGGER), e) for e in events}
    assert len(keys) == 2  # two clicks, two ids; a retried delivery repeats its own
    again = click_deliveries(store, after_click=last)
    assert [d.payload["event_id"] for d in again if d.url == URL] == [
        d.payload["event_id"] for d in mine
    ]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1], "the delivery is not a JSON object (got list)"),
        ({"datetime": "2026-04-15T12:00:00+0000", "bitlink": "bit.ly/x"}, "'event_id': Field"),
        ({"event_id": "e", "datetime": "yesterday", "bitlink": "bit.ly/x"}, "'datetime': must be"),
        ({"event_id": "e", "datetime": "2026-04-15T12:00:00Z", "bitlink": 7}, "'bitlink'"),
        ({"event_id": "", "datetime": "2026-04-15T12:00:00Z", "bitlink": "b"}, "'event_id'"),
    ],
)
def test_a_malformed_delivery_is_refused_naming_the_field(
    catalog: Catalog, payload: Any, message: str
) -> None:
    with pytest.raises(InvalidInput, match=r"bitly\.link_clicked") as raised:
        asyncio.run(parse_delivery(TRIGGER, payload, catalog=catalog))
    assert message in str(raised.value)


def test_cli_parses_a_delivery_and_refuses_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], catalog: Catalog
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(catalog.get(TRIGGER).output_sample))
    assert main(["triggers", "parse", TRIGGER, "--payload", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["event_id"] == "e5c1b0f8a9d2"
    bad = tmp_path / "bad.json"
    bad.write_text('{"event_id": "e", "bitlink": "bit.ly/x"}')
    assert main(["triggers", "parse", TRIGGER, "--payload", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "'datetime': Field required" in err and err.count("\n") == 1
    assert main(["triggers", "poll", TRIGGER, "--input", f"organization_guid={ORG}"]) == 2
    assert "is a webhook trigger" in capsys.readouterr().err
