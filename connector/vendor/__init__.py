"""Structural facts about the vendors' APIs: what a request must look like, per operation.

Each app ships its own facts file, named by its AppPlugin (`vendor_facts`, see
connector.plugins), in the format `connector.vendor.facts` reads. Bitly's is derived from
its OpenAPI description by `tools/derive_bitly_facts.py`; shorten.dev publishes no
machine-readable description, so its file is written by hand from its API documentation.
"""

from __future__ import annotations

from functools import cache

from connector.errors import InvalidConfiguration
from connector.plugins import app_plugin
from connector.vendor.facts import VendorFacts, load_facts_file

__all__ = ["load_vendor_facts"]


@cache
def load_vendor_facts(app: str) -> VendorFacts | None:
    """The facts the installed app `app` ships, or None when it ships none."""
    plugin = app_plugin(app)
    if plugin is None or plugin.vendor_facts is None:
        return None
    try:
        return load_facts_file(plugin.vendor_facts)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A third-party file: say which and why in one line, never a traceback.
        reason = f"{type(exc).__name__}: {exc}"
        raise InvalidConfiguration(
            f"vendor facts of app '{app}' cannot be read ({reason})",
            where=str(plugin.vendor_facts),
        ) from None
