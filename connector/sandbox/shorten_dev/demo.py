"""Demo data: about 20 tagged links over the last 90 days and their generated clicks.

Everything derives from the seed and the start of the current UTC day, so the same seed
gives the same links and clicks all day long (and exactly the same under a fixed clock).
"""

from __future__ import annotations

import random

from connector.sandbox.clicks import generate_demo_clicks
from connector.sandbox.shorten_dev.store import Link, LinkStore

__all__ = ["load_demo"]

_DAY = 86400.0
_DESTINATIONS = (
    ("https://example.com/blog/launch-week", ["blog", "launch"]),
    ("https://example.com/pricing", ["pricing"]),
    ("https://docs.example.com/getting-started", ["docs", "onboarding"]),
    ("https://docs.example.com/api/reference", ["docs", "api"]),
    ("https://example.com/careers", ["hiring"]),
    ("https://shop.example.com/spring-sale?utm_source=newsletter", ["sale", "newsletter"]),
    ("https://shop.example.com/products/mug", ["shop"]),
    ("https://example.org/events/meetup-2026", ["events"]),
    ("https://example.com/webinar/automation", ["webinar", "automation"]),
    ("https://github.com/example/connector", ["oss", "github"]),
    ("https://example.com/changelog", ["product"]),
    ("https://status.example.com", ["ops"]),
    ("https://example.com/case-studies/acme", ["customers", "sales"]),
    ("https://example.com/podcast/episode-12", ["podcast"]),
    ("https://example.com/newsletter/2026-03", ["newsletter"]),
    ("https://example.com/jobs/backend-engineer", ["hiring", "engineering"]),
    ("https://example.net/partners", ["partners"]),
    ("https://example.com/ebook/workflows", ["ebook", "leads"]),
    ("https://example.com/support", ["support"]),
    ("https://example.com/old-campaign", ["archive"]),
)
_SLUG_WORDS = (
    "launch", "pricing", "start", "api-ref", "careers", "spring", "mug", "meetup", "webinar",
    "gh", "changes", "status", "acme", "ep12", "news-03", "be-job", "partners", "ebook",
    "help", "old",
)  # fmt: skip


def load_demo(store: LinkStore, seed: int, now: float) -> None:
    """Insert the demo links and clicks unless a reopened database already has links."""
    if store.count_links():
        return
    rng = random.Random(f"shorten-dev-demo:{seed}")
    today = now - now % _DAY
    links: list[Link] = []
    for i, ((url, tags), word) in enumerate(zip(_DESTINATIONS, _SLUG_WORDS, strict=True)):
        created = today - rng.uniform(1, 89) * _DAY
        slug = f"{word}-{rng.randrange(100, 1000)}"
        revoked = i == len(_DESTINATIONS) - 1  # the old campaign: revoked, still listed
        revoked_at = created + rng.uniform(0.2, 0.9) * (today - created) if revoked else None
        links.append(
            Link(
                slug=slug,
                destination_url=url,
                status="revoked" if revoked else "active",
                threat_type=None,
                revoked_at=revoked_at,
                tags=tags,
                created_at=created,
                updated_at=revoked_at if revoked_at is not None else created,
            )
        )
    # One link judged unsafe at creation, as the real service flags some destinations.
    flagged_at = today - rng.uniform(1, 30) * _DAY
    links.append(
        Link("free-prize", "http://phishing.example.net/login", "flagged", "SOCIAL_ENGINEERING",
             None, ["suspicious"], flagged_at, flagged_at)
    )  # fmt: skip
    store.insert(links)
    active = [(link.slug, link.created_at) for link in links if link.status != "flagged"]
    store.add_clicks(generate_demo_clicks(seed, active, now))
