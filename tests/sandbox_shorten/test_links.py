"""Create, get, list, revoke: documented shapes, validation naming the field, 404/405/409/413."""

from __future__ import annotations

import re

import pytest

from .conftest import Api, Clock, assert_error

LINK_KEYS = {
    "slug", "destination_url", "status", "threat_type", "revoked_at", "tags", "created_at",
    "updated_at",
}  # fmt: skip


def test_create_returns_the_link_and_short_url(api: Api) -> None:
    response = api.create(destination_url="https://example.com/a?b=1", tags=["x", "🚀 launch"])
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"link", "short_url"}
    link = body["link"]
    assert set(link) == LINK_KEYS
    assert re.fullmatch(r"[A-Za-z0-9]{7}", link["slug"])
    assert body["short_url"] == f"https://r.shorten.dev/{link['slug']}"
    assert link["status"] == "active" and link["threat_type"] is None
    assert link["revoked_at"] is None
    assert link["tags"] == ["x", "🚀 launch"]
    assert link["created_at"] == link["updated_at"] == "2026-01-01T00:00:00Z"
    assert api("GET", f"/api/v1/links/{link['slug']}").json() == body


def test_custom_slug_and_conflicts(api: Api) -> None:
    assert (
        api.create(destination_url="https://a.example", custom_slug="My_Slug-1").status_code == 201
    )
    assert_error(
        api.create(destination_url="https://b.example", custom_slug="My_Slug-1"), 409, "conflict"
    )
    assert api("POST", "/api/v1/links/My_Slug-1/revoke").status_code == 200
    # a revoked slug is never reassigned
    assert_error(
        api.create(destination_url="https://b.example", custom_slug="My_Slug-1"), 409, "conflict"
    )
    assert (
        api.create(destination_url="https://b.example", custom_slug="my_slug-1").status_code == 201
    )
    assert (
        api("GET", "/api/v1/links/My_Slug-1").json()["link"]["destination_url"]
        == "https://a.example"
    )


def test_unsafe_destination_is_flagged_with_warning(api: Api) -> None:
    response = api.create(destination_url="http://malware.example.net/x")
    assert response.status_code == 201
    body = response.json()
    assert body["link"]["status"] == "flagged"
    assert body["link"]["threat_type"] == "MALWARE"
    assert "unsafe" in body["warning"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "destination_url"),
        ({"destination_url": 5}, "destination_url"),
        ({"destination_url": "ftp://a.example/x"}, "destination_url"),
        ({"destination_url": "example.com"}, "destination_url"),
        ({"destination_url": "https://"}, "destination_url"),
        ({"destination_url": "https://a.example:99999/"}, "destination_url"),
        ({"destination_url": "https://a.example/\u0000"}, "destination_url"),
        ({"destination_url": "https://a.example/" + "x" * 3000}, "destination_url"),
        ({"destination_url": "https://a.example", "custom_slug": "ab"}, "custom_slug"),
        ({"destination_url": "https://a.example", "custom_slug": "x" * 51}, "custom_slug"),
        ({"destination_url": "https://a.example", "custom_slug": "a/b/c"}, "custom_slug"),
        ({"destination_url": "https://a.example", "custom_slug": "héllo"}, "custom_slug"),
        ({"destination_url": "https://a.example", "custom_slug": 123}, "custom_slug"),
        ({"destination_url": "https://a.example", "tags": "x"}, "tags"),
        ({"destination_url": "https://a.example", "tags": ["a", "b", "c", "d"]}, "tags"),
        ({"destination_url": "https://a.example", "tags": [1]}, "tags[0]"),
        ({"destination_url": "https://a.example", "tags": ["ok", "y" * 51]}, "tags[1]"),
        ({"destination_url": "https://a.example", "slug": "abc"}, "slug"),
    ],
)
def test_create_validation_names_the_field(api: Api, body: dict, field: str) -> None:  # type: ignore[type-arg]
    error = assert_error(api.create(**body), 400, "bad_request")
    assert field in error["details"], error
    assert api("GET", "/api/v1/links").json()["total"] == 0


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"{not json", "body"),
        (b"", "body"),
        (b"[1, 2]", "body"),
        (b'"text"', "body"),
        (b"\xff\xfe{}", "body"),
        (b"[" * 100_000 + b"]" * 100_000, "body"),
        (b'{"destination_url": 1' + b"0" * 5000 + b"}", "body"),
        (b'{"destination_url": "https://a.example/\\ud800"}', "destination_url"),
    ],
)
def test_malformed_bodies(api: Api, content: bytes, field: str) -> None:
    response = api("POST", "/api/v1/links", content=content)
    assert field in assert_error(response, 400, "bad_request")["details"]


def test_body_over_one_megabyte_is_413(api: Api) -> None:
    big = b'{"destination_url": "https://a.example", "tags": ["' + b"x" * (1024 * 1024) + b'"]}'
    assert_error(api("POST", "/api/v1/links", content=big), 413, "payload_too_large")

    async def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: checked while streaming
        for _ in range(20):
            yield b" " * 65536

    assert_error(api("POST", "/api/v1/links", content=chunks()), 413, "payload_too_large")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/links/nope",
        "/api/v1/links/%E2%98%83",
        "/api/v1/links/ab",
        "/api/v1/links/x%2F..%2Fy",
    ],
)
def test_get_unknown_is_404(api: Api, path: str) -> None:
    assert_error(api("GET", path), 404, "not_found")
    assert_error(api("POST", path + "/revoke"), 404, "not_found")


def test_unknown_endpoint_and_method(api: Api) -> None:
    assert_error(api("GET", "/api/v1/users"), 404, "not_found")
    assert_error(api("GET", "/api/v1/links/a/b/c"), 404, "not_found")
    response = api("DELETE", "/api/v1/links")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


def test_revoke(api: Api, clock: Clock) -> None:
    api.create(destination_url="https://a.example", custom_slug="gone")
    clock.t += 120
    first = api("POST", "/api/v1/links/gone/revoke")
    assert first.status_code == 200
    link = first.json()["link"]
    assert link["status"] == "revoked"
    assert link["revoked_at"] == link["updated_at"] == "2026-01-01T00:02:00Z"
    clock.t += 60
    again = api("POST", "/api/v1/links/gone/revoke").json()["link"]
    assert again["revoked_at"] == "2026-01-01T00:02:00Z"
    assert api("GET", "/api/v1/links/gone").json()["link"]["status"] == "revoked"


def make_links(api: Api, clock: Clock, n: int) -> list[str]:
    slugs = []
    for i in range(n):
        clock.t += 10
        slug = f"link-{i:02d}"
        api.create(destination_url=f"https://z{25 - i}.example", custom_slug=slug)
        slugs.append(slug)
    return slugs


def test_list_pages_sorts_and_counts(api: Api, clock: Clock) -> None:
    slugs = make_links(api, clock, 23)
    default = api("GET", "/api/v1/links").json()
    assert {k: default[k] for k in ("total", "page", "limit", "total_pages")} == {
        "total": 23, "page": 1, "limit": 10, "total_pages": 3,
    }  # fmt: skip
    assert [link["slug"] for link in default["data"]] == slugs[::-1][:10]
    last = api("GET", "/api/v1/links", params={"page": 3, "limit": 10}).json()
    assert [link["slug"] for link in last["data"]] == slugs[::-1][20:]
    beyond = api("GET", "/api/v1/links", params={"page": 9}).json()
    assert beyond["data"] == [] and beyond["total"] == 23
    by_url = api(
        "GET", "/api/v1/links", params={"sort": "destination_url", "order": "asc", "limit": 50}
    )
    urls = [link["destination_url"] for link in by_url.json()["data"]]
    assert urls == sorted(urls) and len(urls) == 23
    by_slug = api(
        "GET", "/api/v1/links", params={"sort": "slug", "order": "ASC", "limit": 5}
    ).json()
    assert [link["slug"] for link in by_slug["data"]] == slugs[:5]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
        ({"limit": 51}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"sort": "clicks"}, "sort"),
        ({"order": "up"}, "order"),
    ],
)
def test_list_rejects_bad_params(api: Api, params: dict, field: str) -> None:  # type: ignore[type-arg]
    error = assert_error(api("GET", "/api/v1/links", params=params), 400, "bad_request")
    assert field in error["details"]


def test_empty_list(api: Api) -> None:
    assert api("GET", "/api/v1/links").json() == {
        "data": [], "total": 0, "page": 1, "limit": 10, "total_pages": 0,
    }  # fmt: skip
