"""Bad input of every kind gets a clean 4xx and leaves the state as it was."""

from __future__ import annotations

import json

import pytest

from .conftest import Client

GROUP_LINKS = "/v4/groups/Bdemo000001/bitlinks"


def _total(client: Client) -> int:
    body = client.get(GROUP_LINKS, params={"archived": "both", "size": "1"}).json()
    return int(body["pagination"]["total"])


def test_unknown_path_is_plain_404_and_wrong_method_plain_405(client: Client) -> None:
    r = client.get("/v4/bitlinkz")
    assert (r.status_code, r.text) == (404, "404 page not found")
    assert r.headers["content-type"].startswith("text/plain")
    r = client.request("PUT", "/v4/user")
    assert (r.status_code, r.text) == (405, "Method Not Allowed")
    assert r.headers["content-type"].startswith("text/plain")
    assert client.delete("/v4/shorten").status_code == 405


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/v4/bitlinks/bit.ly/x/../../user",
        b"/v4/bitlinks/bit.ly/x/%2e%2e/%2e%2e/user",
        b"/v4/bitlinks/bit.ly%2Fx",
        b"/v4/bitlinks/bit.ly/spring-sale%2Fclicks",
        b"/v4//user",
        b"/v4/./user",
        b"/v4/bitlinks/bit.ly/x/..",
    ],
)
def test_path_tricks_never_reach_another_endpoint(client: Client, raw_path: bytes) -> None:
    status, _headers, body = client.raw("GET", raw_path)
    assert status == 404, (raw_path, body)
    assert b"sandbox_user" not in body


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/v4/bitlinks/bit.ly/spring-sale%3F/clicks",
        b"/v4/bitlinks/bit.ly/a%23b",
        b"/v4/bitlinks/b%00d/x",
    ],
)
def test_bitlinks_with_odd_characters_are_not_found(client: Client, raw_path: bytes) -> None:
    status, _headers, body = client.raw("GET", raw_path)
    assert status == 404
    assert json.loads(body)["message"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "body",
    [
        b'{"long_url": ',
        b"[1, 2]",
        b'"just a string"',
        b"\xff\xfe not utf-8",
        b"[" * 50_000 + b"]" * 50_000,
        b'{"long_url": "https://example.com/\\u0000"}',
        b'{"long_url": "https://example.com/\\ud800"}',
        b'{"long_url": 1e999999}',
        b'{"long_url": ' + b"9" * 5000 + b"}",
    ],
)
def test_malformed_bodies_are_400(fresh: Client, body: bytes) -> None:
    before = _total(fresh)
    r = fresh.post("/v4/shorten", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] in ("body", "long_url")
    assert _total(fresh) == before


def test_body_over_one_megabyte_is_413(fresh: Client) -> None:
    big = json.dumps({"long_url": "https://example.com/" + "a" * (1024 * 1024)})
    r = fresh.post("/v4/shorten", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["message"] == "REQUEST_ENTITY_TOO_LARGE"
    # also when the length is not announced (chunked)
    status, _, _body = fresh.raw("POST", b"/v4/shorten", big.encode(), {"content-length": "x"})
    assert status in (400, 413)


def test_wrong_types_name_the_field(fresh: Client) -> None:
    r = fresh.patch("/v4/bitlinks/bit.ly/spring-sale", json={"tags": "sale", "archived": "yes"})
    assert r.status_code == 400
    assert {e["field"] for e in r.json()["errors"]} == {"tags", "archived"}
    r = fresh.patch("/v4/bitlinks/bit.ly/spring-sale", json={"tags": ["ok", 3]})
    assert r.json()["errors"][0]["field"] == "tags[1]"
    r = fresh.patch("/v4/bitlinks/bit.ly/spring-sale", json={"tags": [""]})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "tags[0]"


def test_odd_unicode_is_kept_and_redirects_encode_it(fresh: Client) -> None:
    url = "https://example.com/caf\u00e9/\U0001f600?q=\u2603"
    created = fresh.post("/v4/bitlinks", json={"long_url": url, "title": "\u202eevil\u200b"})
    assert created.status_code == 200
    key = created.json()["id"]
    assert fresh.get(f"/v4/bitlinks/{key}").json()["long_url"] == url
    r = fresh.get(f"/{key}")
    assert r.status_code == 301
    assert r.headers["location"] == "https://example.com/caf%C3%A9/%F0%9F%98%80?q=%E2%98%83"


def test_odd_query_strings_are_clean_400s(client: Client) -> None:
    r = client.get(GROUP_LINKS, params={"size": "\u0661"})  # an Arabic-Indic digit
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "size"
    r = client.get(GROUP_LINKS, params=[("size", "1"), ("size", "2")])
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "size"
    status, _, _ = client.raw("GET", b"/v4/groups/Bdemo000001/bitlinks?query=%ff%fe&size=%")
    assert status in (200, 400)
