"""Redaction by value: every known secret is replaced wherever it appears.

Header-name scrubbing alone misses a token echoed in an error body, a URL or a template
error, so every output path (messages, run logs, cassettes, CLI output) goes through
`redact()` with the secrets registered here.

A secret is masked in every form a message can carry it in: as is, escaped (Python repr,
`unicode_escape`, a bytes repr such as httpx's "Illegal header value b'...'", JSON),
URL-encoded (as a server echoes a query) and base64 (as in a Basic or encoded header, at
each of the three byte alignments it can start at).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "dumps_redacted",
    "forget_secrets",
    "holds_secret",
    "mask_json",
    "redact",
    "redact_message",
    "redact_obj",
    "register_secret",
]

MASK = "***REDACTED***"
# Shorter values would mask ordinary words; real tokens are far longer.
_MIN_LEN = 6

_lock = threading.Lock()
#: the values registered, and every form of them (see `forms`)
_registered: set[str] = set()
_secrets: set[str] = set()
#: the secrets as they appear inside a JSON string, in _order (for dumps_redacted)
_encoded: tuple[str, ...] = ()
#: _secrets in _order (redact() reads it without sorting on every call)
_ordered: tuple[str, ...] = ()


def _order(value: str) -> tuple[int, str]:
    # Longest first, so a secret containing another is masked whole; then by value, so
    # overlapping secrets of equal length are masked the same way in every process (set
    # order follows the hash seed) and by redact() and dumps_redacted() alike.
    return (-len(value), value)


def forms(value: str) -> set[str]:
    """Every spelling of `value` a message may hold: itself, escaped, URL-encoded, base64."""
    raw = value.encode("utf-8", "surrogatepass")
    found = {
        value,
        repr(value)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
        repr(raw)[2:-1],
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        quote(value, safe="/"),
        quote_plus(value, safe=""),
    }
    found |= {_lower_escapes(f) for f in list(found) if "%" in f}
    for offset in range(3):
        # The characters that depend on the secret's bytes alone, wherever it starts.
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        core = encoded[-(-8 * offset // 6) : 8 * (offset + len(raw)) // 6]
        found |= {core, core.replace("+", "-").replace("/", "_")}
    return {f for f in found if len(f) >= _MIN_LEN}


def _lower_escapes(text: str) -> str:
    # %2F and %2f are the same byte; servers echo either.
    parts = text.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


def register_secret(value: str | None) -> None:
    """Remember a credential so it is masked from now on, in this process, in every form."""
    global _encoded, _ordered
    if value and len(value) >= _MIN_LEN:
        with _lock:
            if value not in _registered:
                _registered.add(value)
                _secrets.update(forms(value))
                _ordered = tuple(sorted(_secrets, key=_order))
                _encoded = tuple(json.dumps(v, ensure_ascii=False)[1:-1] for v in _ordered)


def forget_secrets() -> None:
    """Drop every registered secret (tests use this to isolate themselves)."""
    global _encoded, _ordered
    with _lock:
        _registered.clear()
        _secrets.clear()
        _encoded = _ordered = ()


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """Replace every registered secret (and `extra`) in `text`."""
    values = _ordered
    if extra:
        with _lock:
            values = tuple(
                sorted(_secrets.union(v for v in extra if v and len(v) >= _MIN_LEN), key=_order)
            )
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


#: how a message marks where it cut a value short
_CUT = re.compile(r"\.\.\.|\u2026")


def redact_message(text: str) -> str:
    """`redact(text)`, and also a secret cut short: a message that shows the start of a value
    (`value[:40] + "..."`, or a message cut at its end) shows the start of a secret with it.
    For messages (errors, CLI lines), not for data: a data string may end in anything."""
    text = redact(text)
    values = _ordered
    if not values:
        return text
    ends = [m.start() for m in _CUT.finditer(text)] + [len(text)]
    for end in reversed(ends):
        start = _cut_secret_start(text, end, values)
        if start is not None:
            text = text[:start] + MASK + text[end:]
    return text


def _cut_secret_start(text: str, end: int, values: tuple[str, ...]) -> int | None:
    """Where a secret's first characters (at least _MIN_LEN of them) end at `end`, if any."""
    tail = text[max(0, end - _MIN_LEN) : end]
    if len(tail) < _MIN_LEN:
        return None
    best: int | None = None
    for value in values:
        if tail not in value:
            continue
        for length in range(min(len(value) - 1, end), _MIN_LEN - 1, -1):
            if text.startswith(value[:length], end - length):
                if best is None or end - length < best:
                    best = end - length
                break
    return best


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
def _default(value: Any) -> Any:
    """What a value JSON has no type for is written as: a loop's lazy items as the array
    they are (bounded: lazy_array.py), anything else as its str()."""
    from connector.lazy_array import LazyArray  # here: lazy_array imports errors, then this

    return value.as_list() if isinstance(value, LazyArray) else str(value)


if c_make_encoder is not None:
    _ENCODE = c_make_encoder(None, _default, encode_basestring, None, ":", ",", False, False, True)
else:  # no C accelerator (another Python implementation): the same output, slower
    _ENCODE = json.JSONEncoder(
        separators=(",", ":"), default=_default, ensure_ascii=False
    ).iterencode


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
