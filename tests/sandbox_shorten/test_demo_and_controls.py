"""Demo data from a seed, a --db file kept across runs, limits and faults in its dialect."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest

from connector.sandbox.controls import Controls, Faults, Limits

from .conftest import Api, Clock, assert_error, make_api


def snapshot(api: Api) -> tuple[list[dict], list[dict]]:  # type: ignore[type-arg]
    links = api("GET", "/api/v1/links", params={"limit": 50, "sort": "slug"}).json()["data"]
    stats = [
        api("GET", f"/api/v1/links/{link['slug']}/analytics?period=90d").json() for link in links
    ]
    return links, stats


def test_demo_data_is_deterministic(clock: Clock) -> None:
    links, stats = snapshot(make_api(clock, seed=1))
    assert 18 <= len(links) <= 25
    assert all(link["tags"] for link in links)
    assert {link["status"] for link in links} == {"active", "revoked", "flagged"}
    assert sum(s["total_clicks"] for s in stats) > 100
    assert snapshot(make_api(clock, seed=1)) == (links, stats)
    other_links, other_stats = snapshot(make_api(clock, seed=2))
    assert (other_links, other_stats) != (links, stats)


def test_demo_links_do_not_use_the_creation_window(clock: Clock) -> None:
    api = make_api(clock, seed=1, creation_limit_per_hour=1)
    assert api.create(destination_url="https://a.example").status_code == 201


def test_generated_slugs_are_deterministic(clock: Clock) -> None:
    def slugs() -> list[str]:
        api = make_api(clock, seed=5)
        return [
            api.create(destination_url="https://a.example").json()["link"]["slug"] for _ in range(3)
        ]

    assert slugs() == slugs()


def test_db_file_keeps_links_and_clicks(clock: Clock, tmp_path: Path) -> None:
    db = str(tmp_path / "shorten.sqlite")
    first = make_api(clock, seed=1, db_path=db)
    first.create(destination_url="https://kept.example", custom_slug="kept")
    first("GET", "/kept", key=None)
    before = snapshot(first)
    first.app.state.store.close()
    again = make_api(clock, seed=1, db_path=db)  # demo data is not loaded twice
    assert snapshot(again) == before
    assert again("GET", "/api/v1/links/kept/analytics").json()["total_clicks"] == 1


def test_throttle_is_429_rate_limited_with_retry_after(clock: Clock) -> None:
    api = make_api(clock, controls=Controls(limits=Limits(per_minute=2)))
    assert api("GET", "/api/v1/links").status_code == 200
    assert api("GET", "/api/v1/links").status_code == 200
    response = api("GET", "/api/v1/links")
    assert_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "60"
    assert api("GET", "/api/v1/links/abc").status_code == 404  # another endpoint
    assert api.app.state.counts["GET /api/v1/links"] == 3


def test_monthly_quota_is_429(clock: Clock) -> None:
    api = make_api(clock, controls=Controls(limits=Limits(monthly_quota=1)))
    api("GET", "/api/v1/links")
    response = api("GET", "/api/v1/links")
    body = assert_error(response, 429, "rate_limited")
    assert "Monthly" in body["message"]
    assert response.headers["X-RateLimit-Scope"] == "monthly"


def test_injected_server_errors_carry_error_id(clock: Clock) -> None:
    api = make_api(clock, controls=Controls(faults=Faults(error_rate=1.0, seed=4)))
    seen = set()
    for _ in range(20):
        response = api("GET", "/api/v1/links")
        body = response.json()
        assert (
            body["error"]
            == {500: "internal_error", 502: "internal_error", 503: "service_unavailable"}[
                response.status_code
            ]
        )
        assert uuid.UUID(body["error_id"])
        seen.add(response.status_code)
    assert seen == {500, 502, 503}


def test_lost_write_creates_the_link(clock: Clock) -> None:
    api = make_api(clock, controls=Controls(faults=Faults(lost_write_rate=1.0)))
    with pytest.raises(httpx.RemoteProtocolError):
        api.create(destination_url="https://lost.example", custom_slug="lost-write")
    assert api("GET", "/api/v1/links/lost-write").status_code == 200


def test_unexpected_error_is_500_with_error_id(clock: Clock) -> None:
    api = make_api(clock)
    api.create(destination_url="https://a.example", custom_slug="boom")
    api.app.state.store.conn.execute("DROP TABLE clicks")
    response = api("GET", "/api/v1/links/boom/analytics")
    body = assert_error(response, 500, "internal_error")
    assert re.fullmatch(r"[0-9a-f-]{36}", body["error_id"])
