"""The greeter app: everything a third-party app brings, declared in one object."""

from pathlib import Path

from connector.plugins import AppPlugin

__all__ = ["APP"]

_HERE = Path(__file__).parent

APP = AppPlugin(
    key="greeter",
    manifests=_HERE / "manifests",
    handlers=__name__,
    vendor_facts=_HERE / "greeter_v1_facts.json",
    sandbox="connector_greeter.sandbox:SANDBOX",
)
