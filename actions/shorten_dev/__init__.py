"""The shorten.dev app: manifests in manifests/shorten_dev/, handlers here for the actions with
logic beyond one declarative request, hand-written vendor facts, and the shorten.dev sandbox."""

from pathlib import Path

import connector
from connector.apps import MANIFESTS
from connector.plugins import AppPlugin

__all__ = ["APP"]

APP = AppPlugin(
    key="shorten_dev",
    manifests=MANIFESTS / "shorten_dev",
    handlers=__name__,
    vendor_facts=Path(connector.__file__).parent / "vendor" / "shorten_dev_v1_facts.json",
    sandbox="connector.sandbox.shorten_dev.plugin:SANDBOX",
)
