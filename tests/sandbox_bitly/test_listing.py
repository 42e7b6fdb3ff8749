"""GET /groups/{guid}/bitlinks: filters, page-number and search_after pagination; bulk edits."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import Client

GROUP_LINKS = "/v4/groups/Bdemo000001/bitlinks"


def _follow(client: Client, first: dict[str, Any]) -> list[dict[str, Any]]:
    pages = [first]
    while pages[-1]["pagination"]["next"]:
        url = pages[-1]["pagination"]["next"]
        assert url.startswith("http://sandbox.test/v4/groups/Bdemo000001/bitlinks?")
        pages.append(client.get(url).json())
        assert len(pages) < 20
    return pages


def test_page_numbers(client: Client) -> None:
    first = client.get(GROUP_LINKS, params={"size": "2", "tags": ["sale", "shop"]}).json()
    total = first["pagination"]["total"]
    assert first["pagination"]["prev"] == "" and first["pagination"]["page"] == 1
    pages = _follow(client, first)
    ids = [link["id"] for page in pages for link in page["links"]]
    assert len(ids) == len(set(ids)) == total
    assert all({"sale", "shop"} & set(link["tags"]) for p in pages for link in p["links"])
    # the next URL keeps the filters
    assert parse_qs(urlsplit(first["pagination"]["next"]).query)["tags"] == ["sale", "shop"]
    assert pages[1]["pagination"]["prev"].endswith("page=1")
    assert pages[-1]["pagination"]["next"] == ""


@pytest.mark.parametrize("filters", [{}, {"query": "example.com"}], ids=["sql", "filtered"])
def test_search_after_cursor(client: Client, filters: dict[str, str]) -> None:
    by_page = [
        link["id"]
        for page in _follow(client, client.get(GROUP_LINKS, params={"size": "7", **filters}).json())
        for link in page["links"]
    ]
    assert len(by_page) > 14
    first = client.get(GROUP_LINKS, params={"size": "7", "search_after": "", **filters}).json()
    assert first["pagination"]["search_after"]
    assert "search_after=" in first["pagination"]["next"]
    pages = _follow(client, first)
    by_cursor = [link["id"] for page in pages for link in page["links"]]
    assert by_cursor == by_page
    assert pages[-1]["pagination"]["search_after"] == ""
    bad = client.get(GROUP_LINKS, params={"search_after": "%%%"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "search_after"


def _ids(client: Client, **params: Any) -> set[str]:
    r = client.get(GROUP_LINKS, params={"size": "100", **params})
    assert r.status_code == 200, r.text
    return {link["id"] for link in r.json()["links"]}


def test_filters(client: Client) -> None:
    everything = _ids(client, archived="both")
    assert len(everything) == 25
    assert len(_ids(client)) == 24  # one demo link is archived; archived=off by default
    assert len(_ids(client, archived="on")) == 1
    launch = client.get(GROUP_LINKS, params={"keyword": "launch"}).json()["links"]
    assert [link["custom_bitlinks"] for link in launch] == [["https://sbx.ly/launch"]]
    assert len(_ids(client, custom_bitlink="on")) == 3
    assert len(_ids(client, query="WIDGET")) == 2
    assert len(_ids(client, campaign_guid="Cdemo000001")) == 8
    assert len(_ids(client, channel_guid="Hdemo000002")) == 4
    assert _ids(client, created_after="4102444800") == set()  # 2100-01-01
    assert _ids(client, created_before="0") == set()
    assert _ids(client, launchpad_ids="L1") == set()
    for bad in (
        {"size": "0"},
        {"size": "99999999999999999999"},
        {"archived": "maybe"},
        {"page": "x"},
    ):
        r = client.get(GROUP_LINKS, params=bad)
        assert r.status_code == 400
        assert r.json()["errors"][0]["field"] == next(iter(bad))


def test_unknown_group_is_404(client: Client) -> None:
    r = client.get("/v4/groups/Bnope/bitlinks")
    assert r.status_code == 404 and r.json()["message"] == "NOT_FOUND"


def test_bulk_archive_and_edit_tags(fresh: Client) -> None:
    keys = sorted(_ids(fresh))[:3]
    r = fresh.patch(GROUP_LINKS, json={"action": "archive", "links": [*keys, "bit.ly/unknown1"]})
    assert r.status_code == 200 and sorted(r.json()["links"]) == keys
    assert set(keys) <= _ids(fresh, archived="on")
    r = fresh.patch(
        GROUP_LINKS,
        json={"action": "edit_tags", "links": keys, "add_tags": ["bulk"], "remove_tags": ["sale"]},
    )
    assert r.status_code == 200
    tagged = fresh.get(GROUP_LINKS, params={"tags": "bulk", "archived": "both"}).json()["links"]
    assert {link["id"] for link in tagged} == set(keys)
    assert all("sale" not in link["tags"] for link in tagged)
    assert "bulk" in fresh.get("/v4/groups/Bdemo000001/tags").json()["tags"]


def test_bulk_over_100_links_is_400_and_changes_nothing(fresh: Client) -> None:
    before = _ids(fresh, archived="on")
    links = [f"bit.ly/x{i:05d}" for i in range(101)]
    r = fresh.patch(GROUP_LINKS, json={"action": "archive", "links": links})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "links"
    r = fresh.patch(GROUP_LINKS, json={"action": "delete", "links": []})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "action"
    assert _ids(fresh, archived="on") == before


def test_sorted_by_clicks(client: Client) -> None:
    body = client.get("/v4/groups/Bdemo000001/bitlinks/clicks", params={"size": "5"}).json()
    clicks = [s["clicks"] for s in body["sorted_links"]]
    assert clicks == sorted(clicks, reverse=True) and len(clicks) == 5
    assert [link["id"] for link in body["links"]] == [s["id"] for s in body["sorted_links"]]
    assert client.get("/v4/groups/Bdemo000001/bitlinks/newest").status_code == 404
