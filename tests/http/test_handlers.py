"""Handlers in actions/: metrics normalisation, pagination, idempotent creates."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connector import errors as E
from connector.apps.bitly.metrics import normalize_timestamp
from connector.runner import ActionRunner

BASE = "https://api-ssl.bitly.test/v4"


def runner(catalog: Any, transport: httpx.AsyncBaseTransport) -> ActionRunner:
    return ActionRunner(
        catalog,
        transport=transport,
        credentials={"bitly": "tok_handlers_0123456789", "shorten_dev": "sk_handlers_0123456789"},
        env={},
    )


def run_action(arun: Any, catalog: Any, transport: Any, action_id: str, inputs: dict) -> Any:
    async def go() -> Any:
        async with runner(catalog, transport) as r:
            return await r.run(action_id, inputs)

    return arun(go())


# -- metrics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-02-03T12:06:17+0000", "2020-02-03T12:06:17Z"),
        ("2020-02-03T12:06:17+01:00", "2020-02-03T11:06:17Z"),
        ("2020-02-03T12:06:17-0530", "2020-02-03T17:36:17Z"),
        ("2020-02-03T12:06:17Z", "2020-02-03T12:06:17Z"),
        ("2020-02-03T12:06:17", "2020-02-03T12:06:17Z"),
        ("2020-02-03", "2020-02-03T00:00:00Z"),
        (1580731577, "2020-02-03T12:06:17Z"),
        ("1580731577", "2020-02-03T12:06:17Z"),
        ("not a date", "not a date"),
        (None, None),
        (10**30, 10**30),
    ],
)
def test_normalize_timestamp_is_lenient(raw: Any, expected: Any) -> None:
    assert normalize_timestamp(raw) == expected


def metrics_api(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/clicks"):
        return httpx.Response(
            200,
            json={
                "link_clicks": [
                    {"date": "2026-04-11T00:00:00+0000", "clicks": 42},
                    {"date": "2026-04-10T00:00:00+0000", "clicks": "38"},
                ],
                "units": "2",  # echoed differently from the request
                "unit": "day",
                "unit_reference": 1775865600,  # an integer epoch
            },
        )
    if path.endswith("/devices"):
        return httpx.Response(
            200, json={"metrics": [{"device_type": "mobile", "clicks": 50}], "facet": "devices"}
        )
    facet = path.rsplit("/", 1)[1]
    return httpx.Response(200, json={"metrics": [{"value": "US", "clicks": 80}], "facet": facet})


def test_click_metrics_total_and_normalised_fields(catalog, recorder, arun) -> None:
    catalog.add("bitly.m", handler="connector.apps.bitly.metrics:get_link_click_metrics")
    rec = recorder(metrics_api)
    out = run_action(
        arun,
        catalog,
        rec.transport,
        "bitly.m",
        {"bitlink": "bit.ly/abc", "unit": "day", "units": 7},
    )
    assert out == {
        "bitlink": "bit.ly/abc",
        "unit": "day",
        "units": 2,
        "unit_reference": "2026-04-11T00:00:00Z",
        "link_clicks": [
            {"date": "2026-04-11T00:00:00Z", "clicks": 42},
            {"date": "2026-04-10T00:00:00Z", "clicks": 38},
        ],
        "total_clicks": 80,
    }
    (req,) = rec.requests
    assert req.url.path == "/v4/bitlinks/bit.ly/abc/clicks"
    assert dict(req.url.params) == {"unit": "day", "units": "7"}


def test_click_metrics_breakdowns(catalog, recorder, arun) -> None:
    catalog.add("bitly.m", handler="connector.apps.bitly.metrics:get_link_click_metrics")
    rec = recorder(metrics_api)
    out = run_action(
        arun,
        catalog,
        rec.transport,
        "bitly.m",
        {"bitlink": "bit.ly/abc", "include_breakdowns": True, "size": 5,
         "unit_reference": "2026-04-11T00:00:00+0000"},
    )  # fmt: skip
    assert out["countries"] == [{"value": "US", "clicks": 80}]
    assert out["devices"] == [{"value": "mobile", "clicks": 50}]
    assert out["referrers"] == [{"value": "US", "clicks": 80}]
    paths = [r.url.path.rsplit("/", 1)[1] for r in rec.requests]
    assert paths == ["clicks", "countries", "devices", "referrers"]
    assert rec.requests[1].url.params["size"] == "5"
    assert "size" not in rec.requests[0].url.params
    assert rec.requests[0].url.params["unit_reference"] == "2026-04-11T00:00:00+0000"
    assert b"unit_reference=2026-04-11T00%3A00%3A00%2B0000" in rec.requests[0].url.query


def test_click_metrics_survives_odd_bodies(catalog, recorder, arun) -> None:
    catalog.add("bitly.m", handler="connector.apps.bitly.metrics:get_link_click_metrics")
    rec = recorder(lambda r: httpx.Response(200, json={"link_clicks": [None, {"clicks": None}]}))
    out = run_action(arun, catalog, rec.transport, "bitly.m", {"bitlink": "bit.ly/abc"})
    assert out["total_clicks"] == 0
    assert out["units"] == -1


# -- Bitly pagination --------------------------------------------------------------------------


def paged(pages: dict[str, dict[str, Any]]) -> Any:
    def respond(request: httpx.Request) -> httpx.Response:
        key = request.url.params.get("search_after") or request.url.params.get("page") or "1"
        return httpx.Response(200, json=pages[key])

    return respond


def page(ids: list[str], next_url: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"links": [{"id": i} for i in ids]}
    body["pagination"] = {} if next_url is None else {"next": next_url, "total": 5}
    return body


GROUP = f"{BASE}/groups/Bdemo000001/bitlinks"
#: list_group_bitlinks as its manifest declares it: one request, paged by the runner
LIST_LINKS = {
    "request": {
        "method": "GET",
        "path": "/groups/{group_guid}/bitlinks",
        "query": {"size": "<<inputs.size>>", "archived": "<<inputs.archived>>"},
    },
    "pagination": {"items": "links", "limit": "limit", "page_size": "size", "max_page_size": 100},
}


@pytest.mark.parametrize(
    "pages",
    [
        {  # the v4 spec's page form, ending on ""
            "1": page(["a", "b"], f"{GROUP}?page=2&size=2"),
            "2": page(["c", "d"], f"{GROUP}?page=3&size=2"),
            "3": page(["e"], ""),
        },
        {  # the search_after form, ending on a missing next
            "1": page(["a", "b"], f"{GROUP}?size=2&search_after=k2"),
            "k2": page(["c", "d"], f"{GROUP}?size=2&search_after=k4"),
            "k4": page(["e"], None),
        },
        {  # a relative next
            "1": page(["a", "b", "c"], "/v4/groups/Bdemo000001/bitlinks?page=2"),
            "2": page(["d", "e"], ""),
        },
    ],
)
def test_list_group_bitlinks_follows_next(catalog, recorder, arun, pages) -> None:
    catalog.add("bitly.l", **LIST_LINKS)
    rec = recorder(paged(pages))
    out = run_action(arun, catalog, rec.transport, "bitly.l", {"group_guid": "Bdemo000001"})
    assert [link["id"] for link in out["links"]] == ["a", "b", "c", "d", "e"]
    assert out["count"] == 5 and out["has_more"] is False
    assert out["pages"] == len(pages) == len(rec.requests)
    assert all(r.headers["authorization"].startswith("Bearer ") for r in rec.requests)


def test_list_group_bitlinks_stops_at_limit(catalog, recorder, arun) -> None:
    catalog.add("bitly.l", **LIST_LINKS)
    pages = {
        "1": page(["a", "b"], f"{GROUP}?page=2"),
        "2": page(["c", "d"], f"{GROUP}?page=3"),
        "3": page(["e"], ""),
    }
    rec = recorder(paged(pages))
    out = run_action(
        arun, catalog, rec.transport, "bitly.l",
        {"group_guid": "Bdemo000001", "limit": 3, "archived": "both"},
    )  # fmt: skip
    assert [link["id"] for link in out["links"]] == ["a", "b", "c"]
    assert out["has_more"] is True and out["count"] == 3
    assert len(rec.requests) == 2
    assert rec.requests[0].url.params["size"] == "3"
    assert rec.requests[0].url.params["archived"] == "both"


@pytest.mark.parametrize(
    "evil",
    [
        "https://evil.test/v4/groups/Bdemo000001/bitlinks?page=2",
        "http://api-ssl.bitly.test/v4/groups/Bdemo000001/bitlinks?page=2",
        "https://api-ssl.bitly.test:8443/v4/groups?page=2",
        "https://api-ssl.bitly.test/v5/groups?page=2",
        "//evil.test/v4/groups?page=2",
    ],
)
def test_list_group_bitlinks_refuses_next_off_the_base_url(catalog, recorder, arun, evil) -> None:
    catalog.add("bitly.l", **LIST_LINKS)
    rec = recorder(paged({"1": page(["a"], evil)}))
    with pytest.raises(E.FatalError, match=r"pagination\.next points outside the bitly API"):
        run_action(arun, catalog, rec.transport, "bitly.l", {"group_guid": "Bdemo000001"})
    assert len(rec.requests) == 1


def test_list_group_bitlinks_refuses_a_repeating_next(catalog, recorder, arun) -> None:
    catalog.add("bitly.l", **LIST_LINKS)
    rec = recorder(
        paged({"1": page(["a"], f"{GROUP}?page=2"), "2": page(["b"], f"{GROUP}?page=2")})
    )
    with pytest.raises(E.FatalError, match="repeats a page already read after 2 items"):
        run_action(arun, catalog, rec.transport, "bitly.l", {"group_guid": "Bdemo000001"})


def test_list_group_bitlinks_ends_on_a_page_with_no_items(catalog, recorder, arun) -> None:
    # An empty page promises nothing more: a `next` after it is not followed (a cursor that
    # keeps changing on empty pages would otherwise loop forever).
    catalog.add("bitly.l", **LIST_LINKS)
    rec = recorder(
        paged(
            {
                "1": page(["a"], f"{GROUP}?search_after=k1"),
                "k1": page([], f"{GROUP}?search_after=k2"),
            }
        )
    )
    out = run_action(arun, catalog, rec.transport, "bitly.l", {"group_guid": "Bdemo000001"})
    assert out == {"links": [{"id": "a"}], "count": 1, "pages": 2, "has_more": False}
    assert len(rec.requests) == 2


def test_list_group_bitlinks_stops_at_limit_in_the_search_after_form(
    catalog, recorder, arun
) -> None:
    catalog.add("bitly.l", **LIST_LINKS)
    pages = {
        "1": page(["a", "b"], f"{GROUP}?search_after=k2"),
        "k2": page(["c", "d"], f"{GROUP}?search_after=k4"),
        "k4": page(["e"], ""),
    }
    rec = recorder(paged(pages))
    out = run_action(
        arun, catalog, rec.transport, "bitly.l", {"group_guid": "Bdemo000001", "limit": 250}
    )
    assert out["count"] == 5 and out["has_more"] is False
    assert rec.requests[0].url.params["size"] == "100"  # a limit over the largest page size


# -- shorten.dev -------------------------------------------------------------------------------


def shorten_list(total: int) -> Any:
    links = [{"slug": f"s{i}"} for i in range(total)]

    def respond(request: httpx.Request) -> httpx.Response:
        p, n = int(request.url.params["page"]), int(request.url.params["limit"])
        data = links[(p - 1) * n : p * n]
        pages = -(-total // n)
        body = {"data": data, "total": total, "page": p, "limit": n, "total_pages": pages}
        return httpx.Response(200, json=body)

    return respond


@pytest.mark.parametrize(
    ("total", "inputs", "count", "requests", "more"),
    [
        (120, {}, 120, 3, False),
        (0, {}, 0, 1, False),
        (120, {"limit": 60}, 60, 2, True),
        (120, {"limit": 7}, 7, 1, True),
        (7, {"limit": 7}, 7, 1, False),
        (30, {"page_size": 10, "sort": "slug"}, 30, 3, False),
    ],
)
def test_list_links_pages(catalog, recorder, arun, total, inputs, count, requests, more) -> None:
    catalog.add("shorten_dev.list_links", handler="connector.apps.shorten_dev.links:list_links")
    rec = recorder(shorten_list(total))
    out = run_action(arun, catalog, rec.transport, "shorten_dev.list_links", inputs)
    assert out["count"] == len(out["links"]) == count
    assert out["total"] == total
    assert out["has_more"] is more
    assert len(rec.requests) == requests
    assert len({link["slug"] for link in out["links"]}) == count


def shorten_create(existing: dict[str, Any] | None) -> Any:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            if existing is not None:
                return httpx.Response(
                    409, json={"error": "conflict", "message": "slug taken", "status": 409}
                )
            return httpx.Response(
                201, json={"link": {"slug": "promo", "destination_url": "https://a.test/x"},
                           "short_url": "https://r.shorten.dev/promo"},
            )  # fmt: skip
        if existing is None:
            return httpx.Response(404, json={"error": "not_found", "message": "no", "status": 404})
        return httpx.Response(200, json=existing)

    return respond


INPUTS = {"destination_url": "https://a.test/x", "custom_slug": "promo"}


def test_create_link_posts_only_given_fields(catalog, recorder, arun) -> None:
    catalog.add("shorten_dev.create_link", handler="connector.apps.shorten_dev.links:create_link")
    rec = recorder(shorten_create(None))
    out = run_action(
        arun, catalog, rec.transport, "shorten_dev.create_link", {**INPUTS, "tags": []}
    )
    assert out["short_url"] == "https://r.shorten.dev/promo"
    assert (
        rec.requests[0].content == b'{"destination_url":"https://a.test/x","custom_slug":"promo"}'
    )


def test_create_link_409_on_our_own_earlier_write_is_success(catalog, recorder, arun) -> None:
    catalog.add("shorten_dev.create_link", handler="connector.apps.shorten_dev.links:create_link")
    mine = {"slug": "promo", "destination_url": "https://a.test/x/", "status": "active"}
    rec = recorder(shorten_create(mine))
    out = run_action(arun, catalog, rec.transport, "shorten_dev.create_link", INPUTS)
    assert out == {"link": mine, "short_url": "https://r.shorten.dev/promo"}
    assert [r.method for r in rec.requests] == ["POST", "GET"]
    assert rec.requests[1].url.path == "/api/v1/links/promo"


def test_create_link_409_on_someone_elses_slug_stays_a_conflict(catalog, recorder, arun) -> None:
    catalog.add("shorten_dev.create_link", handler="connector.apps.shorten_dev.links:create_link")
    theirs = {"link": {"slug": "promo", "destination_url": "https://other.test/"}}
    rec = recorder(shorten_create(theirs))
    with pytest.raises(E.Conflict, match=r"shorten_dev\.create_link: .*409"):
        run_action(arun, catalog, rec.transport, "shorten_dev.create_link", INPUTS)


@pytest.mark.parametrize(
    ("existing", "inputs", "expected"),
    [
        (None, INPUTS, None),
        ({"link": {"slug": "promo", "destination_url": "https://other.test/"}}, INPUTS, None),
        ({"link": {"slug": "promo", "destination_url": "https://a.test/x"},
          "short_url": "https://r.shorten.dev/promo"}, INPUTS,
         {"link": {"slug": "promo", "destination_url": "https://a.test/x"},
          "short_url": "https://r.shorten.dev/promo"}),
        # Without a slug nothing can be read back: "can't tell", never "not applied".
        ({"link": {}}, {"destination_url": "https://a.test/x"}, E.OutcomeUnknown),
    ],
)  # fmt: skip
def test_reconcile_create(catalog, recorder, arun, existing, inputs, expected) -> None:
    catalog.add(
        "shorten_dev.create_link",
        handler="connector.apps.shorten_dev.links:create_link",
        reconcile="connector.apps.shorten_dev.links:reconcile_create",
    )
    rec = recorder(shorten_create(existing))

    async def go() -> Any:
        async with runner(catalog, rec.transport) as r:
            return await r.reconcile("shorten_dev.create_link", inputs)

    if expected is E.OutcomeUnknown:
        with pytest.raises(E.OutcomeUnknown, match="cannot be read back"):
            arun(go())
    else:
        assert arun(go()) == expected
    assert all(r.method == "GET" for r in rec.requests)
    assert len(rec.requests) == (1 if inputs.get("custom_slug") else 0)


def test_list_links_without_a_page_count_reads_until_a_short_page(catalog, recorder, arun) -> None:
    catalog.add("shorten_dev.list_links", handler="connector.apps.shorten_dev.links:list_links")
    links = [{"slug": f"s{i}"} for i in range(23)]

    def respond(request: httpx.Request) -> httpx.Response:
        p, n = int(request.url.params["page"]), int(request.url.params["limit"])
        return httpx.Response(200, json={"data": links[(p - 1) * n : p * n]})  # no totals

    rec = recorder(respond)
    out = run_action(arun, catalog, rec.transport, "shorten_dev.list_links", {"page_size": 10})
    assert out["count"] == 23 and out["pages"] == 3 and out["has_more"] is False
    assert len(rec.requests) == 3
