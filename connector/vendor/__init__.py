"""Structural facts about the vendors' APIs: what a request must look like, per operation.

Bitly's are derived from its OpenAPI description by `tools/derive_bitly_facts.py`;
shorten.dev publishes no machine-readable description, so `shorten_dev_v1_facts.json` is
written by hand from its API documentation, in the same format.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from connector.vendor.bitly_spec import BitlyFacts, load_bitly_facts, load_facts_file

__all__ = ["API_PREFIXES", "load_vendor_facts"]

#: the path every operation's template is relative to, per app
API_PREFIXES = {"bitly": "/v4", "shorten_dev": "/api/v1"}

_SHORTEN_DEV_FACTS = Path(__file__).with_name("shorten_dev_v1_facts.json")


@cache
def load_vendor_facts(app: str) -> BitlyFacts | None:
    """The facts for `app`, or None for an app we hold none for."""
    if app == "bitly":
        return load_bitly_facts()
    if app == "shorten_dev":
        return load_facts_file(_SHORTEN_DEV_FACTS)
    return None
