"""Bitly API v4 sandbox: all 62 operations at /v4, stateful, with clicks and demo data."""

from connector.sandbox.bitly.account import GROUP_GUID, ORG_GUID
from connector.sandbox.bitly.app import create_app
from connector.sandbox.bitly.demo import CAMPAIGN_GUID

__all__ = ["CAMPAIGN_GUID", "GROUP_GUID", "ORG_GUID", "create_app"]
