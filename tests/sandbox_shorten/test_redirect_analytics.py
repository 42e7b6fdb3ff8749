"""Redirects record clicks; analytics for 7d/30d/90d are computed from them."""

from __future__ import annotations

import pytest

from .conftest import Api, Clock, assert_error

ANALYTICS_KEYS = {
    "slug", "period", "total_clicks", "unique_visitors", "time_series", "top_referrers",
    "top_countries", "top_devices", "top_browsers",
}  # fmt: skip
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "Mobile/15E148 Safari/604.1"
)


def analytics(api: Api, slug: str, period: str = "7d") -> dict:  # type: ignore[type-arg]
    response = api("GET", f"/api/v1/links/{slug}/analytics", params={"period": period})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_redirect_records_a_click_seen_by_analytics(api: Api, clock: Clock) -> None:
    api.create(destination_url="https://dest.example/page?q=1", custom_slug="go-here")
    empty = analytics(api, "go-here")
    assert set(empty) == ANALYTICS_KEYS
    assert empty["total_clicks"] == 0 and len(empty["time_series"]) == 7

    clock.t += 3600
    headers = {"X-Country": "DE", "User-Agent": IPHONE, "Referer": "https://twitter.com/x"}
    response = api("GET", "/go-here", key=None, headers=headers)
    assert response.status_code == 302
    assert response.headers["location"] == "https://dest.example/page?q=1"
    api("GET", "/go-here", key=None)

    body = analytics(api, "go-here")
    assert body["slug"] == "go-here" and body["period"] == "7d"
    assert body["total_clicks"] == 2
    assert body["unique_visitors"] == 1  # same client address, same IP hash
    assert body["time_series"][-1] == {"date": "2026-01-01", "clicks": 2}
    assert {"country": "DE", "count": 1} in body["top_countries"]
    assert {"device": "mobile", "count": 1} in body["top_devices"]
    assert {"referrer": "twitter.com", "count": 1} in body["top_referrers"]
    assert {"referrer": "direct", "count": 1} in body["top_referrers"]
    assert api.app.state.counts["GET /{slug}"] == 2


@pytest.mark.parametrize(("period", "days"), [("7d", 7), ("30d", 30), ("90d", 90)])
def test_periods(api: Api, period: str, days: int) -> None:
    api.create(destination_url="https://a.example", custom_slug="per")
    assert len(analytics(api, "per", period)["time_series"]) == days


def test_analytics_errors(api: Api) -> None:
    api.create(destination_url="https://a.example", custom_slug="per")
    for bad in ("1d", "7", "all"):
        error = assert_error(
            api("GET", "/api/v1/links/per/analytics", params={"period": bad}), 400, "bad_request"
        )
        assert "period" in error["details"]
    assert_error(api("GET", "/api/v1/links/none/analytics"), 404, "not_found")


def test_revoked_flagged_and_unknown_do_not_redirect(api: Api) -> None:
    api.create(destination_url="https://a.example", custom_slug="old-one")
    api("POST", "/api/v1/links/old-one/revoke")
    api.create(destination_url="https://phishing.example/login", custom_slug="bad-one")
    assert api("GET", "/old-one", key=None).status_code == 410
    assert api("GET", "/bad-one", key=None).status_code == 403
    assert api("GET", "/never", key=None).status_code == 404
    assert api("GET", "/a/../../etc/passwd", key=None).status_code == 404
    assert api("GET", "/%F0%9F%9A%80", key=None).status_code == 404
    assert analytics(api, "old-one")["total_clicks"] == 0
    assert analytics(api, "bad-one")["total_clicks"] == 0
