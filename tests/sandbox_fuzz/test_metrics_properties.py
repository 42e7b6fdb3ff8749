"""Properties of the Bitly metrics over random windows (seeded): the endpoints agree.

For random unit / units / unit_reference / size on a demo link: the click series sums to the
summary's total for the same window, has `units` buckets (units > 0) newest first on the
bucket boundaries, and every facet (countries, devices, referrers, referring domains,
cities with their `other_metrics`) sums to the same total when `size` holds every entry,
and has at most `size` entries when it does not.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from connector.sandbox.bitly import create_app
from connector.sandbox.bitly.facts import load_bitly_facts
from connector.sandbox.bitly.metric_windows import UNITS, bitly_date
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig

from ._asgi import Caller, Req

NOW = 1_767_268_800.0  # 2026-01-01T12:00:00Z
SEED = int(os.environ.get("FUZZ_SEED", "20260103"))
COMBINATIONS = int(os.environ.get("FUZZ_CASES", "40"))
AUTH = ((b"authorization", f"Bearer {DEMO_BITLY_TOKEN}".encode()),)
LINK = "bit.ly/spring-sale"
FACTS = load_bitly_facts()
#: most buckets drawn per unit, so a minute series stays quick
_MAX_DRAWN = {"minute": 3000, "hour": 800, "day": 150, "week": 30, "month": 8}
_FACETS = ("countries", "devices", "referrers", "referring_domains", "cities")


@pytest.fixture(scope="module")
def call() -> Iterator[Caller]:
    caller = Caller(create_app(SandboxConfig(seed=1, now=lambda: NOW)))
    yield caller
    caller.close()


def _get(call: Caller, tail: str, query: str) -> dict[str, Any]:
    op = FACTS.find("GET", "/bitlinks/{bitlink}" + (f"/{tail}" if tail else ""))
    assert op is not None
    reply = call(Req("GET", f"/v4/bitlinks/{LINK}/{tail}".encode(), query.encode(), AUTH))
    assert reply.status == 200, (tail, query, reply.body[:300])
    body: dict[str, Any] = reply.json()
    assert op.response_errors(200, body) == [], (tail, query)
    return body


def _reference(rng: random.Random) -> str | None:
    """A unit_reference in one of the forms Bitly accepts, within the demo's 90 days or so."""
    roll = rng.random()
    if roll < 0.25:
        return None
    ts = NOW - rng.uniform(0, 100 * 86400)
    moment = datetime.fromtimestamp(ts, UTC)
    if roll < 0.5:
        return bitly_date(ts)
    if roll < 0.7:
        return moment.isoformat()  # +00:00 with a colon, possibly with microseconds
    if roll < 0.85:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(int(ts))


def _combinations() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    combos = []
    for _ in range(COMBINATIONS):
        unit = rng.choice(UNITS)
        # all time in minutes or hours is a 100,000-bucket series: correct, but slow to draw
        all_time = unit in ("day", "week", "month") and rng.random() < 0.25
        units = -1 if all_time else rng.randint(1, _MAX_DRAWN[unit])
        params = {"unit": unit, "units": str(units)}
        reference = _reference(rng)
        if reference is not None:
            params["unit_reference"] = reference
        combos.append(params)
    return combos


def _query(params: dict[str, str], **extra: str) -> str:
    return urlencode({**params, **extra})


@pytest.mark.parametrize("params", _combinations(), ids=lambda p: "-".join(p.values()))
def test_series_summary_and_facets_agree(call: Caller, params: dict[str, str]) -> None:
    series = _get(call, "clicks", _query(params))["link_clicks"]
    total = _get(call, "clicks/summary", _query(params))["total_clicks"]
    assert sum(bucket["clicks"] for bucket in series) == total
    units = int(params["units"])
    if units > 0:
        assert len(series) == units
    dates = [bucket["date"] for bucket in series]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) == len(dates), "newest first"
    for facet in _FACETS:
        body = _get(call, facet, _query(params, size="1000"))
        counted = sum(entry["clicks"] for entry in body["metrics"])
        if facet == "cities":
            other = body["other_metrics"]
            counted += other["other_city_clicks"] + other["no_city_clicks"]
        assert counted == total, (facet, counted, total)
        small = _get(call, facet, _query(params, size="2"))
        assert len(small["metrics"]) <= 2, facet


def test_the_combinations_reach_clicks_and_every_unit() -> None:
    """Guards the test above against vacuity: the windows drawn see clicks, in every unit."""
    combos = _combinations()
    assert {c["unit"] for c in combos} == set(UNITS)
    assert any(c["units"] == "-1" for c in combos)


def test_some_windows_hold_clicks(call: Caller) -> None:
    totals = [
        _get(call, "clicks/summary", _query(params))["total_clicks"] for params in _combinations()
    ]
    assert sum(1 for t in totals if t > 0) >= len(totals) // 3, totals
