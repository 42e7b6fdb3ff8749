"""Credentials as they are loaded: stripped, checked that a header can carry them, masked.

A `.env` saved with Windows line endings gives `BITLY_TOKEN=abc\r`: sent as is, httpx refuses
the header with a message quoting the token, and every retry repeats it. Surrounding
whitespace is therefore stripped when a credential is loaded, and a credential that still
holds a control or non-ASCII character is refused at once (exit 2), naming the variable and
never the value. Both the value as given and as sent are registered for masking first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.errors import InvalidCredential
from connector.redact import register_secret

__all__ = ["checked_credential", "register_credentials"]


def _sendable(ch: str) -> bool:
    return " " <= ch <= "~"  # visible ASCII and space: what an HTTP header value may hold


def checked_credential(value: str | None, name: str) -> str:
    """`value` stripped of surrounding whitespace; "" when unset or blank.

    `name` says where it came from (the environment variable, or `credentials['bitly']`);
    InvalidCredential names it when the value holds a character a header cannot carry.
    """
    if not value:
        return ""
    register_secret(value)
    stripped = value.strip()
    register_secret(stripped)
    bad = next((ch for ch in stripped if not _sendable(ch)), None)
    if bad is not None:
        what = "a control character" if bad.isascii() else "non-ASCII"
        raise InvalidCredential(
            f"the credential holds {what} and cannot be sent in an HTTP header; "
            "set it again as plain text (a copy from a rich-text page or a file saved "
            "with other line endings can add such characters)",
            where=name,
        )
    return stripped


def register_credentials(
    catalog: Any, credentials: Mapping[str, str] | None, env: Mapping[str, str]
) -> None:
    """Register every credential a session may use (given, or from each app's variable) and
    refuse one that no header can carry, before any input is checked or anything written:
    an error quoting a token passed as an input value must already mask it."""
    for name, app in catalog.apps.items():
        checked_credential((credentials or {}).get(name), f"credentials[{name!r}]")
        env_name = getattr(app, "credential_env", None)
        if env_name:
            checked_credential(env.get(env_name), env_name)
