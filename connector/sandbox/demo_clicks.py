"""Generated demo clicks: months of plausible traffic for a seeded sandbox account.

The shape is what a user of a real account sees: a few links get most clicks and the rest form
a long tail (Zipf-like), weekdays are busier than weekends, traffic grows slightly, a new link
has a launch spike, visitors come back, and countries, devices, browsers and referrers mix like
social and search traffic. Everything comes from one `random.Random(seed)`, so the same seed
gives the same clicks.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from connector.sandbox.clicks import DIRECT, Click, hash_ip, referring_domain_of
from connector.sandbox.geo import city_for, country_for_key

__all__ = ["generate_demo_clicks"]

_DAY = 86400.0
#: Average clicks per link per day across an account (25 links -> ~110 a day).
_CLICKS_PER_LINK_DAY = 4.5
_ZIPF_EXPONENT = 1.15
# Monday..Sunday
_WEEKDAY_FACTOR = (1.1, 1.15, 1.15, 1.1, 1.0, 0.7, 0.6)
# Clicks by UTC hour: quiet at night in the Americas, peaks in US working hours.
_HOUR_WEIGHTS = (3, 2, 2, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10, 10, 10, 9, 8, 7, 6, 5, 4)
_DEVICES = (("mobile", 55), ("desktop", 40), ("tablet", 5))
_BROWSERS = {
    "mobile": (("Safari", 46), ("Chrome", 46), ("Firefox", 2), ("Edge", 1), ("Other", 5)),
    "desktop": (("Chrome", 62), ("Safari", 14), ("Edge", 12), ("Firefox", 9), ("Other", 3)),
    "tablet": (("Safari", 62), ("Chrome", 34), ("Other", 4)),
}
# (referrer, weight); "{token}" is filled per link so each link has its own t.co/issue URLs.
_REFERRERS = (
    (DIRECT, 30),
    ("https://www.google.com/", 18),
    ("https://t.co/{token}", 12),
    ("https://www.facebook.com/", 9),
    ("https://www.linkedin.com/feed/", 8),
    ("https://newsletter.example.com/issues/{issue}", 8),
    ("https://www.reddit.com/r/programming/", 5),
    ("https://l.instagram.com/", 3),
    ("https://duckduckgo.com/", 3),
    ("https://www.bing.com/", 2),
    ("https://news.ycombinator.com/", 2),
)
_TOKEN_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class _Visitor:
    country: str
    city: str
    region: str
    subregion: str
    device: str
    browser: str
    ip_hash: str


class _Weighted:
    """Fast repeated weighted picks with one shared Random (cumulative weights + bisect)."""

    def __init__(self, items: Sequence[tuple[str, float]]) -> None:
        self.values = [value for value, _ in items]
        self.cumulative = list(accumulate(weight for _, weight in items))

    def pick(self, rng: random.Random) -> str:
        point = rng.random() * self.cumulative[-1]
        return self.values[bisect.bisect_right(self.cumulative, point)]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _visitors(rng: random.Random, count: int) -> list[_Visitor]:
    devices = _Weighted(_DEVICES)
    browsers = {device: _Weighted(mix) for device, mix in _BROWSERS.items()}
    pool = []
    for _ in range(count):
        # Random public-looking addresses; only their hash is kept, as for real clicks, and
        # the same derivation as a live redirect places them (country, city).
        octets = (rng.randint(11, 223), rng.randrange(256), rng.randrange(256), rng.randint(1, 254))
        ip = ".".join(map(str, octets))
        country = country_for_key(ip)
        city, subregion, region = city_for(country, ip)
        device = devices.pick(rng)
        pool.append(
            _Visitor(
                country, city, region, subregion, device, browsers[device].pick(rng), hash_ip(ip)
            )
        )
    return pool


def _link_referrers(rng: random.Random) -> _Weighted:
    """A link's own referrer mix: the account-wide mix, each source scaled 0.3x..1.7x."""
    token = "".join(rng.choice(_TOKEN_ALPHABET) for _ in range(10))
    issue = str(rng.randint(12, 180))
    return _Weighted(
        [
            (url.format(token=token, issue=issue), weight * rng.uniform(0.3, 1.7))
            for url, weight in _REFERRERS
        ]
    )


def generate_demo_clicks(
    seed: int, links: Sequence[tuple[str, float]], now: float, days: int = 90
) -> list[Click]:
    """Clicks on `links` ((link_key, created_ts)) within the `days` days before `now`, each
    after its link's creation, sorted by time. Same arguments, same clicks."""
    if days < 1 or not links:
        return []
    rng = random.Random(seed)
    window_start = now - days * _DAY
    ranks = rng.sample(range(len(links)), len(links))
    weights = [1 / (rank + 1) ** _ZIPF_EXPONENT for rank in ranks]
    total_weight = sum(weights)
    daily_total = _CLICKS_PER_LINK_DAY * len(links)
    visitors = _visitors(rng, min(20_000, max(50, int(daily_total * days * 0.5))))
    hours = _Weighted([(str(hour), weight) for hour, weight in enumerate(_HOUR_WEIGHTS)])
    first_day = math.floor(window_start / _DAY)
    last_day = math.floor(now / _DAY)

    clicks: list[Click] = []
    for (link_key, created), weight in zip(links, weights, strict=True):
        referrers = _link_referrers(rng)
        domains = {url: referring_domain_of(url) for url in referrers.values}
        base = daily_total * weight / total_weight
        for day in range(max(first_day, math.floor(created / _DAY)), last_day + 1):
            day_start = day * _DAY
            age_days = (day_start - created) / _DAY
            expected = (
                base
                * _WEEKDAY_FACTOR[(day + 3) % 7]  # epoch day 0 was a Thursday
                * (0.85 + 0.3 * (day - first_day) / days)  # slow growth
                * (1 + 2.0 * math.exp(-max(age_days, 0.0) / 3))  # launch spike
                * rng.uniform(0.8, 1.2)
            )
            for _ in range(_poisson(rng, expected)):
                ts = round(day_start + int(hours.pick(rng)) * 3600 + rng.random() * 3600, 3)
                if not (created <= ts <= now and ts >= window_start):
                    continue
                # Earlier visitors are picked more often: returning visitors.
                visitor = visitors[int(len(visitors) * rng.random() ** 1.6)]
                referrer = referrers.pick(rng)
                clicks.append(
                    Click(
                        link_key=link_key,
                        ts=ts,
                        country=visitor.country,
                        city=visitor.city,
                        region=visitor.region,
                        subregion=visitor.subregion,
                        device=visitor.device,
                        browser=visitor.browser,
                        referrer=referrer,
                        referring_domain=domains[referrer],
                        ip_hash=visitor.ip_hash,
                    )
                )
    clicks.sort(key=lambda click: (click.ts, click.link_key))
    return clicks
