"""The sandbox answers referrers_by_domains in both the described and the real-traffic form
(drawn from its seed), and the action reads both into one form."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connector.api import run_action
from connector.apps.bitly.windows import normalize_window_body
from connector.catalog import load_catalog
from connector.sandbox.bitly.app import create_app
from connector.sandbox.bitly.demo import DEMO_LINKS
from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SEED, SandboxConfig, frozen_clock
from connector.sandbox.server import BackgroundServer

ACTION = "bitly.get_link_referrers_by_domain"
HEADERS = {"Authorization": f"Bearer {DEMO_BITLY_TOKEN}"}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    config = SandboxConfig(seed=DEMO_SEED, now=frozen_clock())
    with BackgroundServer(create_app(config)) as server:
        yield server.url + "/v4"


def _links(base_url: str) -> list[str]:
    body = httpx.get(
        f"{base_url}/groups/Bdemo000001/bitlinks", params={"size": 100}, headers=HEADERS
    ).json()
    return [link["id"] for link in body["links"]]


def _raw(base_url: str, link: str) -> dict[str, Any]:
    response = httpx.get(
        f"{base_url}/bitlinks/{link}/referrers_by_domains",
        params={"unit": "day", "units": 30},
        headers=HEADERS,
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _form(body: dict[str, Any]) -> str:
    entries = [r for n in body["referrers_by_domain"] for r in n["referrers"]]
    assert entries, body
    if all(set(r) == {"value", "clicks"} for r in entries):
        assert isinstance(body["unit_reference"], int) and body["units"] == 31
        return "real"
    assert all(set(r) == {"key", "value"} for r in entries)
    assert isinstance(body["unit_reference"], str) and body["units"] == 30
    return "described"


def test_the_demo_links_answer_in_both_forms_and_the_same_way_every_time(base_url: str) -> None:
    links = _links(base_url)
    assert len(links) >= len(DEMO_LINKS) - 1  # the archived one is left out
    forms = {link: _form(_raw(base_url, link)) for link in links}
    assert set(forms.values()) == {"real", "described"}
    again = {link: _form(_raw(base_url, link)) for link in links[:5]}
    assert again == {link: forms[link] for link in links[:5]}


def test_both_forms_read_to_one(base_url: str) -> None:
    outputs = {}
    catalog = load_catalog()
    for link in _links(base_url):
        output = asyncio.run(
            run_action(
                ACTION,
                {"bitlink": link, "unit": "day", "units": 30},
                base_urls={"bitly": base_url},
                credentials={"bitly": DEMO_BITLY_TOKEN},
                catalog=catalog,
            )
        )
        outputs[_form(_raw(base_url, link))] = output
    for form, output in outputs.items():
        assert output["unit_reference"] == "2026-04-15T12:00:00Z", form
        assert isinstance(output["units"], int)
        for network in output["referrers_by_domain"]:
            for row in network["referrers"]:
                assert set(row) == {"value", "clicks"} and isinstance(row["clicks"], int)
    assert outputs["real"]["units_requested"] == 30 and outputs["real"]["units"] == 31
    assert "units_requested" not in outputs["described"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"unit_reference": 1776254400, "units": "7"},
            {"unit_reference": "2026-04-15T12:00:00Z", "units": 7},
        ),
        (
            {"unit_reference": "2026-04-15T12:00:00+0000"},
            {"unit_reference": "2026-04-15T12:00:00Z"},
        ),
        (
            {"unit_reference": "not a time", "units": "x"},
            {"unit_reference": "not a time", "units": None},
        ),
        (
            {
                "referrers_by_domain": [
                    {
                        "network": "t.co",
                        "referrers": [
                            {"key": "a", "value": "3"},
                            {"value": "b", "clicks": 2},
                            "junk",
                        ],
                    }
                ]
            },
            {
                "referrers_by_domain": [
                    {
                        "network": "t.co",
                        "referrers": [{"value": "a", "clicks": 3}, {"value": "b", "clicks": 2}],
                    }
                ]
            },
        ),
        (
            {
                "data": [{"ts": 1776211200, "count": "4"}],
                "link_clicks": [{"date": "2026-04-15T00:00:00+0000", "clicks": 1}],
            },
            {
                "data": [{"ts": "2026-04-15T00:00:00Z", "count": 4}],
                "link_clicks": [{"date": "2026-04-15T00:00:00Z", "clicks": 1}],
            },
        ),
    ],
)
def test_every_known_variant_is_read_leniently(
    raw: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert normalize_window_body(raw) == expected
