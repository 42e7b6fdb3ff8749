"""Encryption at rest for saved connections: AES-256-GCM (`cryptography`) under a key from
the environment (`CONNECTOR_SECRET_KEY`, 32 bytes in URL-safe base64), never stored beside
the data it protects. Each ciphertext is bound to its connection's name and app (associated
data), so a row copied onto another name does not decrypt."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connector.errors import InvalidConfiguration
from connector.redact import register_secret

__all__ = ["SECRET_KEY_ENV", "SecretBox", "UndecryptableSecret", "new_key_text"]

SECRET_KEY_ENV = "CONNECTOR_SECRET_KEY"
_NONCE = 12


class UndecryptableSecret(Exception):
    """The stored secret was sealed under another key (or altered)."""


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


_HOW = (
    f"set {SECRET_KEY_ENV} to 32 random bytes in URL-safe base64, e.g. the output of "
    "`python -c 'import base64, secrets; "
    "print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'`"
)


class SecretBox:
    def __init__(self, key: bytes, *, ephemeral: bool = False) -> None:
        self._aead = AESGCM(key)
        #: a key made up for this process (a sandbox): what it seals dies with the process
        self.ephemeral = ephemeral

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] = os.environ, *, sandbox: bool = False
    ) -> SecretBox | None:
        """The box under $CONNECTOR_SECRET_KEY; a sandbox without one gets a key of its own
        (its connections last as long as the process); otherwise None (nothing is stored)."""
        text = env.get(SECRET_KEY_ENV, "").strip()
        if not text:
            return cls(secrets.token_bytes(32), ephemeral=True) if sandbox else None
        register_secret(text)
        try:
            key = base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise InvalidConfiguration(
                f"{SECRET_KEY_ENV} is not a 32-byte key: {_HOW}", where=SECRET_KEY_ENV
            )
        return cls(key)

    def seal(self, secret: str, bound_to: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, secret.encode(), bound_to.encode())

    def open(self, sealed: bytes, bound_to: str) -> str:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], bound_to.encode()).decode()
        except (InvalidTag, ValueError, UnicodeError):
            raise UndecryptableSecret(bound_to) from None


#: what a client is told when no key is configured
NO_KEY = (
    "connections cannot be stored: the service has no secret key to encrypt them; "
    f"{_HOW}, and restart it"
)
