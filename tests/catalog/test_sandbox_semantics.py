"""Handlers against the sandboxes in process (ASGI, no sockets): pagination to the end and to
a limit on real listings, and a free Bitly plan's breakdowns.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from connector.catalog import Catalog
from connector.runner import ActionRunner
from connector.sandbox import bitly, shorten_dev
from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SEED, DEMO_SHORTEN_KEY, SandboxConfig

BASES = {"bitly": "http://bitly.test/v4", "shorten_dev": "http://shorten.test/api/v1"}
CREDENTIALS = {"bitly": DEMO_BITLY_TOKEN, "shorten_dev": DEMO_SHORTEN_KEY}


def run(catalog: Catalog, app: Any, action_id: str, raw: dict[str, Any]) -> Any:
    prepared = catalog.prepare_inputs(action_id, raw, {})
    transport = httpx.ASGITransport(app=app)

    async def go() -> Any:
        async with ActionRunner(
            catalog, base_urls=BASES, credentials=CREDENTIALS, transport=transport, env={}
        ) as runner:
            return await runner.run(action_id, prepared)

    output = asyncio.run(go())
    schema = catalog.get(action_id).output_schema
    assert [e.message for e in Draft202012Validator(schema).iter_errors(output)] == []
    return output


@pytest.fixture(scope="module")
def bitly_app() -> Any:
    return bitly.create_app(SandboxConfig(seed=DEMO_SEED))


@pytest.fixture(scope="module")
def shorten_app() -> Any:
    return shorten_dev.create_app(SandboxConfig(seed=DEMO_SEED))


def test_list_group_bitlinks_reads_every_page(catalog: Catalog, bitly_app: Any) -> None:
    one_page = run(catalog, bitly_app, "bitly.list_group_bitlinks",
                   {"group_guid": "Bdemo000001", "size": 100})  # fmt: skip
    paged = run(catalog, bitly_app, "bitly.list_group_bitlinks",
                {"group_guid": "Bdemo000001", "size": 7})  # fmt: skip
    total = one_page["count"]
    assert one_page["pages"] == 1 and total > 14
    assert paged["pages"] == -(-total // 7) and paged["has_more"] is False
    assert [link["id"] for link in paged["links"]] == [link["id"] for link in one_page["links"]]


def test_list_group_bitlinks_stops_at_the_limit(catalog: Catalog, bitly_app: Any) -> None:
    out = run(catalog, bitly_app, "bitly.list_group_bitlinks",
              {"group_guid": "Bdemo000001", "size": 5, "limit": 12})  # fmt: skip
    assert out["count"] == len(out["links"]) == 12
    assert out["pages"] == 3 and out["has_more"] is True


def test_list_links_reads_every_page_and_stops_at_a_limit(
    catalog: Catalog, shorten_app: Any
) -> None:
    everything = run(catalog, shorten_app, "shorten_dev.list_links", {"page_size": 50})
    total = everything["total"]
    assert everything["count"] == total > 10 and everything["has_more"] is False
    paged = run(catalog, shorten_app, "shorten_dev.list_links", {"page_size": 4})
    assert paged["pages"] == -(-total // 4) and paged["count"] == total
    assert [x["slug"] for x in paged["links"]] == [x["slug"] for x in everything["links"]]
    limited = run(catalog, shorten_app, "shorten_dev.list_links", {"page_size": 4, "limit": 9})
    assert limited["count"] == 9 and limited["pages"] == 3 and limited["has_more"] is True


def test_metrics_breakdowns_on_a_free_plan(catalog: Catalog) -> None:
    free = bitly.create_app(SandboxConfig(seed=DEMO_SEED), plan="free")
    out = run(catalog, free, "bitly.get_link_click_metrics",
              {"bitlink": "bit.ly/spring-sale", "units": 30, "include_breakdowns": 1})  # fmt: skip
    assert "countries" in out and "referrers" in out and "devices" not in out
    assert out["unavailable"] == [
        {"breakdown": "devices", "reason": "UPGRADE_REQUIRED: needs a paid Bitly plan"}
    ]
    assert sum(row["clicks"] for row in out["countries"]) == out["total_clicks"]


def test_metrics_breakdowns_on_a_paid_plan(catalog: Catalog, bitly_app: Any) -> None:
    out = run(catalog, bitly_app, "bitly.get_link_click_metrics",
              {"bitlink": "bit.ly/spring-sale", "units": 30, "include_breakdowns": 1})  # fmt: skip
    assert "unavailable" not in out
    for facet in ("countries", "devices", "referrers"):
        clicks = [row["clicks"] for row in out[facet]]
        assert clicks == sorted(clicks, reverse=True) and sum(clicks) == out["total_clicks"]
    assert len(out["link_clicks"]) == 30
    assert all(b["date"].endswith("T00:00:00Z") for b in out["link_clicks"])


def test_metrics_sample_looks_like_real_output(catalog: Catalog, bitly_app: Any) -> None:
    from connector.apps.bitly.metrics import normalize_timestamp

    sample = catalog.get("bitly.get_link_click_metrics").output_sample
    real = run(catalog, bitly_app, "bitly.get_link_click_metrics",
               {"bitlink": "bit.ly/spring-sale", "units": 7, "include_breakdowns": 1})  # fmt: skip
    assert set(sample) == set(real)
    assert sample["total_clicks"] == sum(b["clicks"] for b in sample["link_clicks"])
    for moment in [sample["unit_reference"], *(b["date"] for b in sample["link_clicks"])]:
        assert normalize_timestamp(moment) == moment  # the form the handler returns
    for facet in ("countries", "devices", "referrers"):
        clicks = [row["clicks"] for row in sample[facet]]
        assert clicks == sorted(clicks, reverse=True) and sum(clicks) == sample["total_clicks"]
