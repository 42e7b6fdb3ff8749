"""Deriving a click from a redirect request: country, city, device, browser, referrer, ip hash."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from connector.sandbox.clicks import (
    CLICKS_DDL,
    DIRECT,
    Click,
    click_from_request,
    insert_clicks,
    referring_domain_of,
)
from connector.sandbox.geo import CITIES, COUNTRY_WEIGHTS, country_for_key
from connector.sandbox.useragent import browser_from_user_agent, device_from_user_agent

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
MAC_CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Safari/605.1.15"
)
WIN_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61"
)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
IOS_FIREFOX = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15"
)
OPERA = MAC_CHROME + " OPR/105.0.0.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("user_agent", "device", "browser"),
    [
        (IPHONE, "mobile", "Safari"),
        (IPAD, "tablet", "Safari"),
        (ANDROID_PHONE, "mobile", "Chrome"),
        (ANDROID_TABLET, "tablet", "Chrome"),
        (MAC_CHROME, "desktop", "Chrome"),
        (MAC_SAFARI, "desktop", "Safari"),
        (WIN_EDGE, "desktop", "Edge"),
        (LINUX_FIREFOX, "desktop", "Firefox"),
        (IOS_FIREFOX, "mobile", "Firefox"),
        (OPERA, "desktop", "Other"),
        (GOOGLEBOT, "other", "Other"),
        ("curl/8.4.0", "other", "Other"),
        ("python-httpx/0.27.0", "other", "Other"),
        ("", "other", "Other"),
        (None, "other", "Other"),
    ],
)
def test_user_agent_table(user_agent: str | None, device: str, browser: str) -> None:
    assert device_from_user_agent(user_agent) == device
    assert browser_from_user_agent(user_agent) == browser


@pytest.mark.parametrize(
    ("header", "expected"),
    [("us", "US"), (" gb ", "GB"), ("De", "DE"), ("ZW", "ZW")],
)
def test_x_country_header_is_upper_cased(header: str, expected: str) -> None:
    click = click_from_request("bit.ly/a", {"X-Country": header}, "203.0.113.9", 1.0)
    assert click.country == expected


@pytest.mark.parametrize("header", ["", "USA", "1A", "U", "ü?", "U S"])
def test_invalid_x_country_falls_back_to_the_address(header: str) -> None:
    click = click_from_request("bit.ly/a", {"x-country": header}, "203.0.113.9", 1.0)
    assert click.country == country_for_key("203.0.113.9")


def test_country_and_city_are_deterministic_per_address() -> None:
    first = click_from_request("bit.ly/a", {}, "198.51.100.7", 1.0)
    again = click_from_request("bit.ly/b", {}, "198.51.100.7", 99.0)
    assert (first.country, first.city, first.region, first.subregion) == (
        again.country,
        again.city,
        again.region,
        again.subregion,
    )
    assert first.country in COUNTRY_WEIGHTS
    assert (first.city, first.subregion, first.region) in CITIES[first.country]


def test_addresses_spread_over_countries_us_heaviest() -> None:
    counts: dict[str, int] = {}
    for i in range(2000):
        country = country_for_key(f"10.0.{i // 256}.{i % 256}")
        counts[country] = counts.get(country, 0) + 1
    assert max(counts, key=lambda c: counts[c]) == "US"
    assert len(counts) >= 10


def test_country_without_cities_has_empty_city() -> None:
    click = click_from_request("bit.ly/a", {"X-Country": "ZW"}, "203.0.113.9", 1.0)
    assert (click.city, click.region, click.subregion) == ("", "", "")


@pytest.mark.parametrize(
    ("referer", "referrer", "domain"),
    [
        (None, DIRECT, DIRECT),
        ("", DIRECT, DIRECT),
        ("https://www.google.com/", "https://www.google.com/", "google.com"),
        ("https://t.co/AbCd123", "https://t.co/AbCd123", "t.co"),
        (
            "http://News.Example.com:8080/a?b=1",
            "http://News.Example.com:8080/a?b=1",
            "news.example.com",
        ),
        ("android-app://com.slack", DIRECT, DIRECT),
        ("not a url", DIRECT, DIRECT),
        ("https://[::1", DIRECT, DIRECT),
    ],
)
def test_referrer_and_referring_domain(referer: str | None, referrer: str, domain: str) -> None:
    headers = {} if referer is None else {"Referer": referer}
    click = click_from_request("bit.ly/a", headers, "203.0.113.9", 1.0)
    assert (click.referrer, click.referring_domain) == (referrer, domain)


def test_long_referrer_is_capped() -> None:
    click = click_from_request("k", {"Referer": "https://a.example/" + "x" * 5000}, None, 1.0)
    assert len(click.referrer) == 2048
    assert referring_domain_of(click.referrer) == "a.example"


def test_ip_is_stored_only_as_its_sha256() -> None:
    click = click_from_request("bit.ly/a", {"User-Agent": IPHONE}, "203.0.113.9", 5.5)
    assert click.ip_hash == hashlib.sha256(b"203.0.113.9").hexdigest()
    assert "203.0.113.9" not in repr(click)
    assert (click.link_key, click.ts, click.device) == ("bit.ly/a", 5.5, "mobile")


def test_missing_client_address_still_gives_a_click() -> None:
    click = click_from_request("slug1", {}, None, 1.0)
    assert click.country in COUNTRY_WEIGHTS
    assert click.ip_hash == hashlib.sha256(b"").hexdigest()


def test_insert_clicks_round_trip_and_ddl_is_idempotent() -> None:
    conn = sqlite3.connect(":memory:")
    conn.executescript(CLICKS_DDL)
    conn.executescript(CLICKS_DDL)
    click = click_from_request(
        "bit.ly/a", {"User-Agent": WIN_EDGE, "Referer": "https://t.co/x"}, "192.0.2.1", 10.0
    )
    insert_clicks(conn, [click, click])
    insert_clicks(conn, iter([]))
    rows = conn.execute(
        "SELECT link_key, ts, country, city, region, subregion, device, browser, referrer,"
        " referring_domain, ip_hash FROM clicks"
    ).fetchall()
    assert [Click(*row) for row in rows] == [click, click]
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM clicks WHERE link_key = ? AND ts >= ?",
        ("bit.ly/a", 0.0),
    ).fetchall()
    assert "clicks_link_ts" in str(plan)
