"""Redaction by value: every known secret is replaced wherever it appears.

Header-name scrubbing alone misses a token echoed in an error body, a URL or a template
error, so every output path (messages, run logs, cassettes, CLI output) goes through
`redact()` with the secrets registered here.
"""

from __future__ import annotations

import json
import threading
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

__all__ = [
    "MASK",
    "dumps_redacted",
    "forget_secrets",
    "holds_secret",
    "mask_json",
    "redact",
    "redact_obj",
    "register_secret",
]

MASK = "***REDACTED***"
# Shorter values would mask ordinary words; real tokens are far longer.
_MIN_LEN = 6

_lock = threading.Lock()
_secrets: set[str] = set()
#: the secrets as they appear inside a JSON string, in _order (for dumps_redacted)
_encoded: tuple[str, ...] = ()


def _order(value: str) -> tuple[int, str]:
    # Longest first, so a secret containing another is masked whole; then by value, so
    # overlapping secrets of equal length are masked the same way in every process (set
    # order follows the hash seed) and by redact() and dumps_redacted() alike.
    return (-len(value), value)


def register_secret(value: str | None) -> None:
    """Remember a credential so it is masked from now on, in this process."""
    global _encoded
    if value and len(value) >= _MIN_LEN:
        with _lock:
            if value not in _secrets:
                _secrets.add(value)
                _encoded = tuple(
                    json.dumps(v, ensure_ascii=False)[1:-1] for v in sorted(_secrets, key=_order)
                )


def forget_secrets() -> None:
    """Drop every registered secret (tests use this to isolate themselves)."""
    global _encoded
    with _lock:
        _secrets.clear()
        _encoded = ()


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """Replace every registered secret (and `extra`) in `text`."""
    with _lock:
        values = sorted(_secrets.union(v for v in extra if v and len(v) >= _MIN_LEN), key=_order)
    for value in values:
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


def dumps_redacted(obj: Any) -> str:
    """Compact JSON of `obj` with every registered secret masked.

    Same result as `json.dumps(redact_obj(obj))`, but masks the serialised text once instead
    of walking every string (the run log writes one of these per loop item). A secret is
    looked for in the form JSON gives it, so one with quotes or backslashes is still found.
    """
    return mask_json("".join(_ENCODE(obj, 0)))


# One C encoder for every call, configured as json.dumps(separators=(",", ":"), default=str,
# ensure_ascii=False) configures its own: json.dumps builds a new encoder on each call, and
# the run log calls this several times per loop item. With no markers it keeps no state
# between calls; the one difference is that a value containing itself raises RecursionError
# instead of ValueError (run-log values come from JSON and never do).
if c_make_encoder is not None:
    _ENCODE = c_make_encoder(None, str, encode_basestring, None, ":", ",", False, False, True)
else:  # no C accelerator (another Python implementation): the same output, slower
    _ENCODE = json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=False).iterencode


def holds_secret(text: str) -> bool:
    """True when a registered secret, as `dumps_redacted` would write it, is in `text`
    (a cheap test before masking many JSON texts one by one)."""
    return any(encoded in text for encoded in _encoded)


def mask_json(text: str) -> str:
    """`text`, compact JSON as `dumps_redacted` writes it, with every registered secret
    masked; for JSON assembled from parts that were each dumped with `dumps_redacted`
    (a secret could straddle two parts, or have been registered since)."""
    masked = text
    for encoded in _encoded:
        if encoded in masked:
            masked = masked.replace(encoded, MASK)
    if masked is text:
        return text
    try:
        json.loads(masked)
    except ValueError:
        # A secret starting with an escape matched inside another escape: walk the values.
        return json.dumps(redact_obj(json.loads(text)), separators=(",", ":"), ensure_ascii=False)
    return masked
