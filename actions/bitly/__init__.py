"""The Bitly app: manifests in manifests/bitly/, handlers here for the actions with logic beyond
one declarative request, the vendor facts derived from Bitly's OpenAPI description, and the
Bitly sandbox."""

from pathlib import Path

import connector
from connector.apps import MANIFESTS
from connector.plugins import AppPlugin

__all__ = ["APP"]

APP = AppPlugin(
    key="bitly",
    manifests=MANIFESTS / "bitly",
    handlers=__name__,
    vendor_facts=Path(connector.__file__).parent / "vendor" / "bitly_v4_facts.json",
    sandbox="connector.sandbox.bitly.plugin:SANDBOX",
)
