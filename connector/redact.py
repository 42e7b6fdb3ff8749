"""Redaction by value: every known secret is replaced wherever it appears.

Header-name scrubbing alone misses a token echoed in an error body, a URL or a template
error, so every output path (messages, run logs, cassettes, CLI output) goes through
`redact()` with the secrets registered here.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["MASK", "forget_secrets", "redact", "redact_obj", "register_secret"]

MASK = "***REDACTED***"
# Shorter values would mask ordinary words; real tokens are far longer.
_MIN_LEN = 6

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a credential so it is masked from now on, in this process."""
    if value and len(value) >= _MIN_LEN:
        with _lock:
            _secrets.add(value)


def forget_secrets() -> None:
    """Drop every registered secret (tests use this to isolate themselves)."""
    with _lock:
        _secrets.clear()


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """Replace every registered secret (and `extra`) in `text`."""
    with _lock:
        values = sorted(_secrets.union(v for v in extra if v and len(v) >= _MIN_LEN), key=len)
    # Longest first, so a secret containing another is masked whole.
    for value in reversed(values):
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_obj(obj: Any, extra: tuple[str, ...] = ()) -> Any:
    """Redact every string inside a JSON-like structure (keys included)."""
    if isinstance(obj, str):
        return redact(obj, extra)
    if isinstance(obj, dict):
        return {redact_obj(k, extra): redact_obj(v, extra) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v, extra) for v in obj]
    return obj
