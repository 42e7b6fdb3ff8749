"""The shorten.dev API v1 sandbox: `/api/v1/links...` and short-link redirects at `/{slug}`."""

from connector.sandbox.shorten_dev.app import DEFAULT_CREATION_LIMIT_PER_HOUR, create_app
from connector.sandbox.shorten_dev.dialect import ShortenDialect

__all__ = ["DEFAULT_CREATION_LIMIT_PER_HOUR", "ShortenDialect", "create_app"]
