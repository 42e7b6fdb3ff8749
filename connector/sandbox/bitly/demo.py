"""The demo account `--seed N` loads: a campaign with two channels, a webhook, about 25 tagged links
(some with custom back-halves) created over the last ~100 days, and generated clicks.

Everything is drawn from `random.Random(seed)` and the store's seeded id counter, so the same
seed gives the same links, hashes and clicks (times are relative to `now`).
"""

from __future__ import annotations

import random

from connector.sandbox.bitly.account import GROUP_GUID
from connector.sandbox.bitly.campaigns import insert_campaign, insert_channel, link_channel
from connector.sandbox.bitly.custom_bitlinks import add_custom_bitlink
from connector.sandbox.bitly.links import create_link
from connector.sandbox.bitly.store import DEFAULT_DOMAIN, Store
from connector.sandbox.bitly.webhooks import insert_demo_webhook
from connector.sandbox.clicks import generate_demo_clicks, insert_clicks

__all__ = ["CAMPAIGN_GUID", "CHANNEL_GUIDS", "DEMO_LINKS", "load_demo"]

CAMPAIGN_GUID = "Cdemo000001"
CHANNEL_GUIDS = ("Hdemo000001", "Hdemo000002")
DAY = 86_400.0

#: (long URL, title, tags, back-half on bit.ly or None, custom bitlink on sbx.ly or None)
DEMO_LINKS: list[tuple[str, str, list[str], str | None, str | None]] = [
    (
        "https://www.example.com/spring-sale?utm_source=newsletter",
        "Spring Sale",
        ["sale", "newsletter"],
        "spring-sale",
        None,
    ),
    (
        "https://blog.example.com/2024/launch-announcement",
        "We are launching",
        ["blog", "launch"],
        None,
        "sbx.ly/launch",
    ),
    (
        "https://docs.example.com/getting-started",
        "Getting started guide",
        ["docs"],
        "docs-start",
        None,
    ),
    ("https://www.example.com/pricing", "Pricing", ["product"], None, None),
    ("https://shop.example.com/products/blue-widget", "Blue Widget", ["shop", "sale"], None, None),
    ("https://shop.example.com/products/red-widget", "Red Widget", ["shop"], None, None),
    (
        "https://careers.example.com/jobs/backend-engineer",
        "Backend Engineer (Remote)",
        ["careers"],
        None,
        "sbx.ly/join-us",
    ),
    (
        "https://events.example.com/webinar/automation-101",
        "Webinar: Automation 101",
        ["webinar", "events"],
        "webinar-101",
        None,
    ),
    (
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "Product demo video",
        ["video", "launch"],
        None,
        None,
    ),
    ("https://github.com/example/connector", "Connector on GitHub", ["dev"], None, None),
    (
        "https://blog.example.com/2024/case-study-acme",
        "Case study: ACME",
        ["blog", "customers"],
        None,
        None,
    ),
    ("https://www.example.com/contact", "Contact us", ["support"], None, None),
    (
        "https://help.example.com/articles/reset-password",
        "Reset your password",
        ["support", "docs"],
        None,
        None,
    ),
    ("https://shop.example.com/gift-cards", "Gift cards", ["shop"], None, None),
    ("https://www.example.com/newsletter/2024-03", "March newsletter", ["newsletter"], None, None),
    ("https://www.example.com/newsletter/2024-04", "April newsletter", ["newsletter"], None, None),
    (
        "https://events.example.com/conference-2024/tickets",
        "Conference tickets",
        ["events", "sale"],
        None,
        "sbx.ly/conf24",
    ),
    ("https://docs.example.com/api/reference", "API reference", ["docs", "dev"], None, None),
    ("https://status.example.com/", "Status page", ["support"], None, None),
    (
        "https://www.example.com/partners?ref=linkedin",
        "Partner program",
        ["partners", "social"],
        None,
        None,
    ),
    (
        "https://www.example.com/ebook/automation-guide.pdf",
        "Automation guide (ebook)",
        ["content", "launch"],
        None,
        None,
    ),
    ("https://shop.example.com/black-friday", "Black Friday preview", ["sale"], None, None),
    (
        "https://blog.example.com/2024/release-notes-2-0",
        "Release notes 2.0",
        ["blog", "product"],
        None,
        None,
    ),
    ("https://www.example.com/privacy", "Privacy policy", ["legal"], None, None),
    (
        "https://forms.example.com/survey/customer-feedback",
        "Customer feedback survey",
        ["customers", "survey"],
        None,
        None,
    ),
]
# Links (by index in DEMO_LINKS) placed in the demo campaign's channels.
_CHANNEL_MEMBERS = {CHANNEL_GUIDS[0]: (0, 1, 14, 15, 20), CHANNEL_GUIDS[1]: (1, 8, 16, 19)}
_ARCHIVED = (23,)


def load_demo(store: Store, seed: int, now: float) -> list[str]:
    """Load the demo account into an empty store (no-op if already loaded); returns link keys."""
    if store.meta("demo_seed") is not None:
        return []
    rng = random.Random(seed)
    ages = sorted((rng.uniform(1.0, 100.0) for _ in DEMO_LINKS), reverse=True)
    campaign_start = now - 60 * DAY
    insert_channel(store, CHANNEL_GUIDS[0], GROUP_GUID, "Newsletter", campaign_start)
    insert_channel(store, CHANNEL_GUIDS[1], GROUP_GUID, "Social", campaign_start)
    insert_campaign(
        store,
        CAMPAIGN_GUID,
        GROUP_GUID,
        "Spring Launch",
        "Newsletter and social push for the spring launch",
        list(CHANNEL_GUIDS),
        campaign_start,
    )
    created: list[tuple[str, float]] = []
    for (long_url, title, tags, back_half, custom), age in zip(DEMO_LINKS, ages, strict=True):
        ts = round(now - age * DAY)
        row = create_link(
            store,
            group_guid=GROUP_GUID,
            domain=DEFAULT_DOMAIN,
            long_url=long_url,
            now=ts,
            title=title,
            tags=tags,
            hash_=back_half,
        )
        if custom is not None:
            add_custom_bitlink(store, custom, row["key"], ts + 3600)
        created.append((row["key"], float(ts)))
    keys = [key for key, _ in created]
    for channel, members in _CHANNEL_MEMBERS.items():
        for index in members:
            link_channel(store, channel, CAMPAIGN_GUID, keys[index])
    for index in _ARCHIVED:
        store.conn.execute("UPDATE links SET archived = 1 WHERE key = ?", (keys[index],))
    insert_clicks(store.conn, generate_demo_clicks(seed, created, now))
    insert_demo_webhook(store.conn, campaign_start)
    store.set_meta("demo_seed", str(seed))
    return keys
