"""Demo click generation: determinism, bounds, realistic spreads, speed."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime

from connector.sandbox.clicks import CLICKS_DDL, DIRECT, generate_demo_clicks, insert_clicks
from connector.sandbox.useragent import DEVICE_TYPES

DAY = 86400.0


def test_same_seed_same_clicks_other_seed_other_clicks(
    demo_links: list[tuple[str, float]], demo_now: float
) -> None:
    first = generate_demo_clicks(3, demo_links, demo_now)
    assert first == generate_demo_clicks(3, demo_links, demo_now)
    assert first != generate_demo_clicks(4, demo_links, demo_now)


def test_total_is_a_few_thousand_to_twenty_thousand(
    demo_links: list[tuple[str, float]], demo_now: float
) -> None:
    for seed in (1, 2, 3):
        assert 3_000 <= len(generate_demo_clicks(seed, demo_links, demo_now)) <= 20_000


def test_clicks_fall_after_creation_and_within_the_window(demo_now: float) -> None:
    links = [("old", demo_now - 400 * DAY), ("new", demo_now - 10.5 * DAY)]
    clicks = generate_demo_clicks(5, links, demo_now, days=30)
    created = dict(links)
    assert clicks
    for click in clicks:
        assert created[click.link_key] <= click.ts <= demo_now
        assert click.ts >= demo_now - 30 * DAY
    assert [c.ts for c in clicks] == sorted(c.ts for c in clicks)
    assert {c.link_key for c in clicks} == {"old", "new"}


def test_a_link_created_in_the_future_gets_no_clicks(demo_now: float) -> None:
    assert generate_demo_clicks(1, [("later", demo_now + DAY)], demo_now) == []
    assert generate_demo_clicks(1, [], demo_now) == []


def test_spreads_look_like_link_traffic(
    demo_links: list[tuple[str, float]], demo_now: float
) -> None:
    clicks = generate_demo_clicks(1, demo_links, demo_now)
    total = len(clicks)

    per_link = sorted(Counter(c.link_key for c in clicks).values(), reverse=True)
    assert len(per_link) == len(demo_links)
    assert sum(per_link[:5]) > total / 2  # a few popular links ...
    assert per_link[-1] < per_link[0] / 10  # ... and a long tail

    countries = Counter(c.country for c in clicks)
    assert countries.most_common(1)[0][0] == "US"
    assert {"GB", "DE", "IN", "CA", "FR", "BR", "JP", "AU"} <= set(countries)

    devices = Counter(c.device for c in clicks)
    assert set(devices) <= set(DEVICE_TYPES)
    assert 0.50 < devices["mobile"] / total < 0.60
    assert 0.35 < devices["desktop"] / total < 0.45
    assert 0.02 < devices["tablet"] / total < 0.08

    domains = Counter(c.referring_domain for c in clicks)
    assert domains.most_common(1)[0][0] == DIRECT
    assert {"google.com", "t.co", "facebook.com", "linkedin.com"} <= set(domains)
    assert all(c.referrer == DIRECT for c in clicks if c.referring_domain == DIRECT)

    weekday = Counter(datetime.fromtimestamp(c.ts, UTC).weekday() for c in clicks)
    assert min(weekday[d] for d in range(5)) > max(weekday[5], weekday[6])

    visitors = {c.ip_hash for c in clicks}
    assert 0.2 * total < len(visitors) < 0.9 * total  # returning visitors


def test_traffic_grows_slightly(demo_now: float) -> None:
    links = [(f"l{i}", demo_now - 200 * DAY) for i in range(10)]
    clicks = generate_demo_clicks(9, links, demo_now)
    first_month = sum(1 for c in clicks if c.ts < demo_now - 60 * DAY)
    last_month = sum(1 for c in clicks if c.ts >= demo_now - 30 * DAY)
    assert last_month > first_month


def test_generation_and_insert_are_fast(
    demo_links: list[tuple[str, float]], demo_now: float
) -> None:
    # The sandbox must start in under a second; this is the bulk of its start-up work.
    # Typically ~0.15 s of CPU; CPU time, not wall time, so a busy shared machine does not
    # make it fail (bench/sandbox_throughput.py measures the start-up itself).
    started = time.process_time()
    conn = sqlite3.connect(":memory:")
    conn.executescript(CLICKS_DDL)
    insert_clicks(conn, generate_demo_clicks(1, demo_links, demo_now))
    conn.commit()
    assert time.process_time() - started < 1.0
