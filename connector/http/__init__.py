"""The one HTTP layer: path encoding, a pooled client per app, and error translation."""

from connector.http.client import USER_AGENT, AppClient
from connector.http.paths import encode_segment, fill_path, normalize_bitlink
from connector.http.translate import Translator, parse_retry_after

__all__ = [
    "USER_AGENT",
    "AppClient",
    "Translator",
    "encode_segment",
    "fill_path",
    "normalize_bitlink",
    "parse_retry_after",
]
