"""Stateful behaviour a user would notice: shorten/create dedupe, custom back-halves,
delete, clicks through redirects, QR images."""

from __future__ import annotations

import base64

import segno

from connector.sandbox.bitly.qr import qr_image

from .conftest import Client

LINK = "bit.ly/spring-sale"


def test_shorten_twice_gives_201_then_the_same_link_with_200(fresh: Client) -> None:
    first = fresh.post("/v4/shorten", json={"long_url": "https://example.com/a"})
    again = fresh.post("/v4/shorten", json={"long_url": "https://example.com/a"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other_domain = fresh.post(
        "/v4/shorten", json={"long_url": "https://example.com/a", "domain": "sbx.ly"}
    )
    assert other_domain.status_code == 201
    assert other_domain.json()["id"].startswith("sbx.ly/")


def test_create_full_returns_the_existing_link(fresh: Client) -> None:
    created = fresh.post("/v4/bitlinks", json={"long_url": "https://example.com/b", "title": "B"})
    again = fresh.post("/v4/bitlinks", json={"long_url": "https://example.com/b"})
    assert (created.status_code, again.status_code) == (200, 200)
    assert created.json()["id"] == again.json()["id"]
    assert again.json()["title"] == "B"


def test_shorten_rejects_bad_urls_groups_and_short_links(fresh: Client) -> None:
    r = fresh.post("/v4/shorten", json={"long_url": "ftp://example.com/x"})
    assert r.status_code == 400 and r.json()["message"] == "INVALID_ARG_LONG_URL"
    assert r.json()["errors"][0]["field"] == "long_url"
    r = fresh.post("/v4/shorten", json={"long_url": "https://bit.ly/abc"})
    assert r.status_code == 400 and r.json()["message"] == "ALREADY_A_BITLY_LINK"
    r = fresh.post("/v4/shorten", json={"long_url": "https://example.com", "group_guid": "Bnope"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "group_guid"
    r = fresh.post(
        "/v4/shorten", json={"long_url": "https://example.com", "domain": "evil.example"}
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "domain"
    r = fresh.post("/v4/shorten", json={})
    assert r.status_code == 400 and r.json()["errors"][0] == {
        "field": "long_url",
        "message": "is required",
        "error_code": "missing",
    }


def test_taken_custom_back_half_is_409(fresh: Client) -> None:
    body = {"custom_bitlink": "sbx.ly/summer", "bitlink_id": LINK}
    assert fresh.post("/v4/custom_bitlinks", json=body).status_code == 200
    taken = fresh.post("/v4/custom_bitlinks", json=body)
    assert taken.status_code == 409 and taken.json()["message"] == "CONFLICT"
    # a back-half already used by a bitlink is taken too
    clash = fresh.post("/v4/custom_bitlinks", json={"custom_bitlink": LINK, "bitlink_id": LINK})
    assert clash.status_code == 409
    link = fresh.get(f"/v4/bitlinks/{LINK}").json()
    assert "https://sbx.ly/summer" in link["custom_bitlinks"]


def test_custom_bitlink_redirects_and_can_be_repointed(fresh: Client) -> None:
    r = fresh.get("/sbx.ly/launch")
    assert r.status_code == 301
    moved = fresh.patch("/v4/custom_bitlinks/sbx.ly/launch", json={"bitlink_id": LINK})
    assert moved.status_code == 200
    history = moved.json()["bitlink_history"]
    assert [h["is_active"] for h in history] == [False, True]
    r = fresh.get("/sbx.ly/launch")
    assert r.headers["location"] == "https://www.example.com/spring-sale?utm_source=newsletter"


def test_delete_then_get_is_gone(fresh: Client) -> None:
    created = fresh.post("/v4/shorten", json={"long_url": "https://example.com/tmp"}).json()
    key = created["id"]
    deleted = fresh.delete(f"/v4/bitlinks/{key}")
    assert deleted.status_code == 200
    assert deleted.json() == {"links_deleted": [{"id": key}]}
    gone = fresh.get(f"/v4/bitlinks/{key}")
    assert gone.status_code == 410 and gone.json()["message"] == "GONE"
    assert fresh.post("/v4/expand", json={"bitlink_id": key}).status_code == 410
    assert fresh.delete(f"/v4/bitlinks/{key}").status_code == 404
    assert fresh.get(f"/{key}").status_code == 404
    # shortening the URL again makes a new link
    again = fresh.post("/v4/shorten", json={"long_url": "https://example.com/tmp"})
    assert again.status_code == 201 and again.json()["id"] != key


def test_update_changes_what_get_and_expand_see(fresh: Client) -> None:
    r = fresh.patch(
        f"/v4/bitlinks/{LINK}",
        json={"title": "Sale", "tags": [" a ", "b", "a"], "long_url": "https://example.com/new"},
    )
    assert r.status_code == 200
    got = fresh.get(f"/v4/bitlinks/{LINK}").json()
    assert (got["title"], got["tags"], got["long_url"]) == (
        "Sale",
        ["a", "b"],
        "https://example.com/new",
    )
    assert fresh.post("/v4/expand", json={"bitlink_id": f"https://{LINK}"}).json()["long_url"] == (
        "https://example.com/new"
    )


def test_redirect_records_a_click_the_summary_counts(fresh: Client) -> None:
    url = f"/v4/bitlinks/{LINK}/clicks/summary"
    before = fresh.get(url, params={"unit": "day", "units": "-1"}).json()["total_clicks"]
    r = fresh.get(f"/{LINK}", headers={"X-Country": "is", "User-Agent": "curl/8"})
    assert r.status_code == 301
    assert r.headers["location"] == "https://www.example.com/spring-sale?utm_source=newsletter"
    after = fresh.get(url, params={"unit": "day", "units": "-1"}).json()["total_clicks"]
    assert after == before + 1
    countries = fresh.get(f"/v4/bitlinks/{LINK}/countries", params={"unit": "day", "units": "1"})
    assert {"value": "IS", "clicks": 1} in countries.json()["metrics"]


def test_redirect_of_unknown_links_is_plain_404(fresh: Client) -> None:
    for path in ("/bit.ly/nope000", "/favicon.ico", "/bit.ly/a/b", "/bit.ly/%2e%2e"):
        r = fresh.get(path)
        assert r.status_code == 404 and r.text == "404 page not found", path


def test_qr_codes_are_images_of_the_link(fresh: Client) -> None:
    created = fresh.post(
        f"/v4/bitlinks/{LINK}/qr", json={"color": "#1133FF", "image_format": "png"}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["customization"]["color"] == "1133ff" and body["has_stored"] is True
    prefix, _, data = body["qr_code"].partition(",")
    assert prefix == "data:image/png;base64"
    png = base64.b64decode(data)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == qr_image(f"https://{LINK}", "png", "1133ff")
    svg = fresh.get(f"/v4/bitlinks/{LINK}/qr", params={"image_format": "svg"}).json()["qr_code"]
    prefix, _, data = svg.partition(",")
    assert prefix == "data:image/svg+xml;base64"
    assert b"<svg" in base64.b64decode(data)
    # the encoded content is the short link itself
    assert segno.make(f"https://{LINK}", error="m", micro=False).designator
    bad = fresh.patch(f"/v4/bitlinks/{LINK}/qr", json={"color": "blue"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "color"


def test_webhook_lifecycle(fresh: Client) -> None:
    hook = fresh.post(
        "/v4/webhooks",
        json={
            "organization_guid": "Odemo000001",
            "name": "h",
            "event": "bitlink_created",
            "url": "https://example.com/h",
        },
    )
    assert hook.status_code == 201
    guid = hook.json()["guid"]
    listed = fresh.get("/v4/organizations/Odemo000001/webhooks").json()["webhooks"]
    # after the demo account's own webhook
    assert [w["guid"] for w in listed] == ["Wdemo000001", guid]
    mismatch = fresh.patch(f"/v4/webhooks/{guid}", json={"guid": "Wother"})
    assert mismatch.status_code == 400 and mismatch.json()["errors"][0]["field"] == "guid"
    r = fresh.delete(f"/v4/webhooks/{guid}")
    assert r.status_code == 204 and r.content == b""
    assert fresh.get(f"/v4/webhooks/{guid}").status_code == 404


def test_campaign_and_channel_crud(fresh: Client) -> None:
    channel = fresh.post("/v4/channels", json={"name": "Radio", "group_guid": "Bdemo000001"})
    assert channel.status_code == 200
    guid = channel.json()["guid"]
    campaign = fresh.post("/v4/campaigns", json={"name": "Fall", "channel_guids": [guid]}).json()
    listed = fresh.get("/v4/channels", params={"campaign_guid": campaign["guid"]}).json()
    assert [c["guid"] for c in listed["channels"]] == [guid]
    r = fresh.patch(f"/v4/campaigns/{campaign['guid']}", json={"channel_guids": ["Hnope"]})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "channel_guids[0]"
    assert fresh.post("/v4/campaigns", json={"description": "no name"}).status_code == 400
    assert fresh.get("/v4/campaigns/Cnope").status_code == 404
