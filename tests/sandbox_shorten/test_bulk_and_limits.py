"""Bulk creation and the hourly creation limit shared with single creation."""

from __future__ import annotations

from typing import Any

from .conftest import Api, Clock, assert_error, make_api


def items(n: int, prefix: str = "https://bulk.example/") -> list[dict[str, Any]]:
    return [{"destination_url": f"{prefix}{i}"} for i in range(n)]


def total(api: Api) -> int:
    return int(api("GET", "/api/v1/links").json()["total"])


def test_bulk_creates_every_link(api: Api) -> None:
    batch = [
        *items(2),
        {"destination_url": "https://c.example", "custom_slug": "bulk-c", "tags": ["t"]},
    ]
    response = api("POST", "/api/v1/links/bulk", json={"links": batch})
    assert response.status_code == 201
    body = response.json()
    assert body["count"] == 3
    assert [entry["link"]["destination_url"] for entry in body["data"]] == [
        "https://bulk.example/0", "https://bulk.example/1", "https://c.example",
    ]  # fmt: skip
    assert body["data"][2]["short_url"] == "https://r.shorten.dev/bulk-c"
    assert response.headers["X-RateLimit-Remaining"] == "297"
    assert total(api) == 3


def test_bulk_of_500_passes_and_501_is_400(clock: Clock) -> None:
    api = make_api(clock, creation_limit_per_hour=1000)
    error = assert_error(
        api("POST", "/api/v1/links/bulk", json={"links": items(501)}), 400, "bad_request"
    )
    assert "500" in error["details"]["links"]
    assert api("POST", "/api/v1/links/bulk", json={"links": items(500)}).status_code == 201
    assert total(api) == 500


def test_bulk_rejects_whole_batch_on_any_invalid_item(api: Api) -> None:
    batch = [
        *items(3),
        {"destination_url": "nope"},
        {"destination_url": "https://x.example", "tags": 7},
    ]
    error = assert_error(
        api("POST", "/api/v1/links/bulk", json={"links": batch}), 400, "bad_request"
    )
    assert set(error["details"]) == {"links[3].destination_url", "links[4].tags"}
    assert total(api) == 0


def test_bulk_shape_errors(api: Api) -> None:
    for body in ({}, {"links": []}, {"links": "x"}, {"links": [], "extra": 1}, [1]):
        assert_error(api("POST", "/api/v1/links/bulk", json=body), 400, "bad_request")
    assert_error(api("POST", "/api/v1/links/bulk", json={"links": [3]}), 400, "bad_request")


def test_bulk_slug_conflicts_create_nothing(api: Api) -> None:
    api.create(destination_url="https://a.example", custom_slug="taken")
    batch = [*items(2), {"destination_url": "https://b.example", "custom_slug": "taken"}]
    assert_error(api("POST", "/api/v1/links/bulk", json={"links": batch}), 409, "conflict")
    twice = [{"destination_url": "https://b.example", "custom_slug": "dup"}] * 2
    error = assert_error(
        api("POST", "/api/v1/links/bulk", json={"links": twice}), 400, "bad_request"
    )
    assert "links[1].custom_slug" in error["details"]
    assert total(api) == 1


def test_creation_limit_shared_by_single_and_bulk(clock: Clock) -> None:
    api = make_api(clock, creation_limit_per_hour=10)
    for _ in range(4):
        clock.t += 60
        assert api.create(destination_url="https://one.example").status_code == 201
    clock.t += 60
    assert api("POST", "/api/v1/links/bulk", json={"links": items(5)}).status_code == 201
    # one left: a batch of two is rejected whole, with no link created
    response = api("POST", "/api/v1/links/bulk", json={"links": items(2)})
    assert_error(response, 429, "rate_limited")
    assert response.headers["X-RateLimit-Remaining"] == "1"
    # the oldest creation (at +60 s) leaves the window at +3660 s; now is +300 s
    assert response.headers["Retry-After"] == str(3660 - 300)
    assert total(api) == 9
    assert api.create(destination_url="https://last.example").status_code == 201
    single = api.create(destination_url="https://over.example")
    assert_error(single, 429, "rate_limited")
    assert total(api) == 10
    # reads and revokes are not limited
    assert api("GET", "/api/v1/links").status_code == 200
    # the window slides: an hour after the first creation, one slot is free again
    clock.t = 1_767_225_600.0 + 60 + 3600 + 1
    assert api.create(destination_url="https://later.example").status_code == 201
    assert_error(api.create(destination_url="https://later.example"), 429, "rate_limited")


def test_bulk_larger_than_the_limit_is_429(clock: Clock) -> None:
    api = make_api(clock, creation_limit_per_hour=300)
    response = api("POST", "/api/v1/links/bulk", json={"links": items(301)})
    assert_error(response, 429, "rate_limited")
    assert "Retry-After" not in response.headers  # waiting cannot make it fit
    assert total(api) == 0
