"""Keys and scopes: 401 without a known key, 403 without the needed scope."""

from __future__ import annotations

import pytest

from .conftest import Api, Clock, assert_error, make_api

ENDPOINTS = [
    ("POST", "/api/v1/links", "write", {"json": {"destination_url": "https://a.example"}}),
    ("POST", "/api/v1/links/bulk", "write", {"json": {"links": [{"destination_url": "https://b.example"}]}}),
    ("GET", "/api/v1/links", "read", {}),
    ("GET", "/api/v1/links/known", "read", {}),
    ("POST", "/api/v1/links/known/revoke", "write", {}),
    ("GET", "/api/v1/links/known/analytics", "read", {}),
]  # fmt: skip


@pytest.fixture
def keyed(clock: Clock) -> Api:
    tokens = {
        "sk_read": frozenset({"read"}),
        "sk_write": frozenset({"write"}),
        "sk_admin": frozenset({"admin"}),
        "sk_all": frozenset({"read", "write", "admin"}),
    }
    api = make_api(clock, tokens=tokens)
    assert api.create(destination_url="https://k.example", custom_slug="known").status_code == 401
    assert (
        api("POST", "/api/v1/links", key="sk_all", json={
            "destination_url": "https://k.example", "custom_slug": "known"}).status_code == 201
    )  # fmt: skip
    return api


@pytest.mark.parametrize(("method", "path", "scope", "kw"), ENDPOINTS)
def test_missing_and_invalid_keys_get_401(
    keyed: Api, method: str, path: str, scope: str, kw: dict
) -> None:  # type: ignore[type-arg]
    assert_error(keyed(method, path, key=None, **kw), 401, "unauthorized")
    assert_error(keyed(method, path, key="sk_nope", **kw), 401, "unauthorized")
    basic = keyed(method, path, key=None, headers={"Authorization": "Basic c2tfcmVhZA=="}, **kw)
    assert_error(basic, 401, "unauthorized")
    # a configured key set replaces the demo key
    assert_error(keyed(method, path, **kw), 401, "unauthorized")


@pytest.mark.parametrize(("method", "path", "scope", "kw"), ENDPOINTS)
def test_scopes(keyed: Api, method: str, path: str, scope: str, kw: dict) -> None:  # type: ignore[type-arg]
    other = "sk_write" if scope == "read" else "sk_read"
    body = assert_error(keyed(method, path, key=other, **kw), 403, "forbidden")
    assert scope in body["message"]
    assert keyed(method, path, key=f"sk_{scope}", **kw).status_code in (200, 201)
    assert keyed(method, path, key="sk_admin", **kw).status_code in (200, 201)


def test_demo_key_has_every_scope(api: Api) -> None:
    assert api.create(destination_url="https://a.example", custom_slug="abc").status_code == 201
    assert api("GET", "/api/v1/links/abc").status_code == 200
    assert api("POST", "/api/v1/links/abc/revoke").status_code == 200


def test_key_never_echoed(keyed: Api) -> None:
    response = keyed("GET", "/api/v1/links", key="sk_secret_value")
    assert "sk_secret_value" not in response.text
