"""Auth, demo determinism, --db persistence, start-up time, and the limits/faults dialect."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from connector.sandbox.bitly import create_app
from connector.sandbox.bitly.demo import DEMO_LINKS
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig
from connector.sandbox.controls import Controls, Faults, Limits

from .conftest import NOW, Client, make_app

GROUP_LINKS = "/v4/groups/Bdemo000001/bitlinks"


def test_missing_or_wrong_token_is_403_forbidden(client: Client) -> None:
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Basic {DEMO_BITLY_TOKEN}"},
        {"Authorization": "Bearer"},
    ):
        r = client.get("/v4/user", headers=headers)
        assert r.status_code == 403 and r.json() == {"message": "FORBIDDEN"}


def test_configured_tokens_replace_the_demo_token() -> None:
    c = Client(create_app(SandboxConfig(tokens={"tok-1": frozenset()}, now=lambda: NOW)))
    try:
        assert c.get("/v4/user").status_code == 403
        assert c.get("/v4/user", headers={"Authorization": "Bearer tok-1"}).status_code == 200
    finally:
        c.close()


def test_without_seed_the_account_exists_but_has_no_links() -> None:
    c = Client(make_app(seed=None))
    try:
        assert c.get("/v4/groups/Bdemo000001").json()["organization_guid"] == "Odemo000001"
        assert c.get("/v4/bsds").json() == {"bsds": ["sbx.ly"]}
        assert c.get(GROUP_LINKS).json()["pagination"]["total"] == 0
    finally:
        c.close()


def _snapshot(c: Client) -> tuple[object, ...]:
    links = c.get(GROUP_LINKS, params={"size": "100", "archived": "both"}).json()["links"]
    clicks = c.get("/v4/groups/Bdemo000001/clicks", params={"unit": "day", "units": "-1"}).json()
    countries = c.get("/v4/groups/Bdemo000001/countries", params={"units": "-1"}).json()
    campaigns = c.get("/v4/campaigns").json()
    return links, clicks, countries, campaigns


def test_same_seed_same_data_other_seed_other_data() -> None:
    apps = [Client(make_app(seed=s)) for s in (7, 7, 8)]
    try:
        a, b, other = (_snapshot(c) for c in apps)
        assert a == b
        assert a[0] != other[0] and a[1] != other[1]
        assert len(a[0]) == len(DEMO_LINKS)
        total = sum(p["count"] for p in a[1]["data"])
        assert total > 500  # about 90 days of clicks
    finally:
        for c in apps:
            c.close()


def test_db_file_keeps_links_and_clicks_across_restarts(tmp_path: Path) -> None:
    db = str(tmp_path / "bitly.db")
    first = Client(create_app(SandboxConfig(seed=1, db_path=db, now=lambda: NOW)))
    created = first.post("/v4/shorten", json={"long_url": "https://example.com/kept"}).json()
    assert first.get(f"/{created['id']}").status_code == 301
    summary = f"/v4/bitlinks/{created['id']}/clicks/summary"
    before = first.get(summary).json()["total_clicks"]
    total = first.get(GROUP_LINKS).json()["pagination"]["total"]
    first.close()
    first.app.state.store.close()
    second = Client(create_app(SandboxConfig(seed=1, db_path=db, now=lambda: NOW)))
    try:
        assert second.get(f"/v4/bitlinks/{created['id']}").json()["long_url"] == (
            "https://example.com/kept"
        )
        assert second.get(summary).json()["total_clicks"] == before == 1
        # the demo is not loaded twice, and new ids do not collide with old ones
        assert second.get(GROUP_LINKS).json()["pagination"]["total"] == total
        again = second.post("/v4/shorten", json={"long_url": "https://example.com/new"})
        assert again.status_code == 201 and again.json()["id"] != created["id"]
    finally:
        second.close()
        second.app.state.store.close()


def test_starts_in_under_a_second() -> None:
    started = time.perf_counter()
    make_app()
    assert time.perf_counter() - started < 1.0


def test_rate_limit_is_403_with_reason_header_and_counts_per_endpoint() -> None:
    controls = Controls(limits=Limits(per_minute=2))
    c = Client(create_app(SandboxConfig(controls=controls, now=lambda: NOW)))
    try:
        assert [c.get("/v4/user").status_code for _ in range(2)] == [200, 200]
        r = c.get("/v4/user")
        assert r.status_code == 403 and r.json()["message"] == "RATE_LIMIT_EXCEEDED"
        assert r.headers["X-Ratelimit-Reason"]
        # per endpoint: another endpoint still answers
        assert c.get("/v4/bsds").status_code == 200
        counts = c.app.state.counts
        assert counts["GET /v4/user"] == 3 and counts["GET /v4/bsds"] == 1
        limits = c.get("/v4/user/platform_limits", params={"path": "/v4/user"}).json()
        assert limits["platform_limits"][0]["endpoint"] == "/v4/user"
    finally:
        c.close()


def test_monthly_quota_is_429() -> None:
    controls = Controls(limits=Limits(monthly_quota=1))
    c = Client(create_app(SandboxConfig(controls=controls, now=lambda: NOW)))
    try:
        assert c.get("/v4/user").status_code == 200
        r = c.get("/v4/user")
        assert r.status_code == 429 and r.json()["message"] == "MONTHLY_RATE_LIMIT_EXCEEDED"
    finally:
        c.close()


def test_injected_server_errors_use_bitly_bodies_and_apply_nothing() -> None:
    controls = Controls(faults=Faults(error_rate=1.0, seed=3))
    c = Client(create_app(SandboxConfig(controls=controls, now=lambda: NOW)))
    expected = {500: "INTERNAL_ERROR", 502: "BAD_GATEWAY", 503: "TEMPORARILY_UNAVAILABLE"}
    try:
        for i in range(6):
            r = c.post("/v4/shorten", json={"long_url": f"https://example.com/{i}"})
            assert r.json()["message"] == expected[r.status_code]
        rows = c.app.state.store.conn.execute("SELECT COUNT(*) FROM links").fetchone()[0]
        assert rows == 0
    finally:
        c.close()


def test_lost_write_applies_the_write_then_cuts_the_connection() -> None:
    controls = Controls(faults=Faults(lost_write_rate=1.0, seed=1))
    c = Client(create_app(SandboxConfig(controls=controls, now=lambda: NOW)))
    try:
        with pytest.raises(httpx.TransportError):
            c.post("/v4/shorten", json={"long_url": "https://example.com/lost"})
        rows = c.app.state.store.conn.execute(
            "SELECT long_url FROM links WHERE long_url = 'https://example.com/lost'"
        ).fetchall()
        assert len(rows) == 1
        # reads are not writes: they answer normally
        assert c.get("/v4/user").status_code == 200
    finally:
        c.close()


def test_free_plan_answers_402_on_premium_operations() -> None:
    c = Client(create_app(SandboxConfig(seed=1, now=lambda: NOW), plan="free"))
    try:
        r = c.get("/v4/campaigns")
        assert r.status_code == 402 and r.json()["message"] == "UPGRADE_REQUIRED"
        assert c.get("/v4/bitlinks/bit.ly/spring-sale/devices").status_code == 402
        assert c.get("/v4/bitlinks/bit.ly/spring-sale/countries").status_code == 200
    finally:
        c.close()
    with pytest.raises(ValueError, match="plan"):
        create_app(SandboxConfig(), plan="gold")
