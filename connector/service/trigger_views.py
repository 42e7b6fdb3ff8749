"""A run's trigger payload in its view: whole when small, else its shape and where to read it.

A run's page is polled every second or two while it runs, and a loop's trigger can hold a
million URLs (60 MB of JSON): decoding and sending that on every view would cost more than
the rest of the view together. A payload's JSON over `INLINE` bytes is read once per service
process to find its shape (an array's elements decoded one at a time, never all at once),
which is kept (a run's payload never changes); later views of that run do not read the
payload at all. `GET /v1/runs/{id}/trigger` sends
it whole, as stored (masked), without decoding it.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import quote

from connector.engine.runlog import RunLog, RunRecord
from connector.service.models import TriggerSummary
from connector.service.run_lookup import get_run

__all__ = [
    "INLINE",
    "TriggerShapes",
    "chunks",
    "trigger_summary",
    "trigger_text",
    "trigger_url",
]

#: bytes of a payload's JSON returned whole in a run's view. A webhook's or a form's
#: payload is a few KB; past 64 KiB a payload is a data set (a loop's list), and at a view
#: a second it would be most of a page's traffic (the page's 100 items are ~30 KB).
INLINE = 64 * 1024
#: top-level keys a summary lists at most
KEYS = 100
#: runs whose payload's shape one service process keeps at most
RUNS = 1024
#: characters sent per chunk of `GET /v1/runs/{id}/trigger`
CHUNK = 1 << 20

_SMALL = object()  # a payload returned whole: nothing to keep but that


def trigger_url(run_id: str) -> str:
    return f"/v1/runs/{quote(run_id, safe='')}/trigger"


_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (dict, "object"), (list, "array"), (str, "string"), (bool, "boolean"),
    ((int, float), "number"),
)  # fmt: skip
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _size(text: str) -> int:
    """Bytes of `text` in UTF-8 (a lone surrogate, which JSON can carry, as 3); an ASCII
    text (the usual JSON) is not encoded to count them (35 MB more for a big payload)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _type(value: Any) -> str:
    return next((name for kind, name in _TYPES if isinstance(value, kind)), "null")


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]  # matches ""


def _value(text: str, at: int) -> tuple[Any, int]:
    """The JSON value at `at`, and where it ends; an array as the number of its elements,
    decoded one at a time and dropped (a payload's million URLs are never all objects at
    once: about 150 MB for 35 MB of JSON)."""
    if text[at] != "[":
        return _DECODER.raw_decode(text, at)
    at = _skip(text, at + 1)
    count = 0
    while text[at] != "]":
        _, at = _value(text, at)
        count += 1
        at = _skip(text, at)
        if text[at] == ",":
            at = _skip(text, at + 1)
    return _Array(count), at + 1


class _Array(int):
    """An array's length, where `_value` found an array."""


def _members(text: str, at: int) -> Iterator[tuple[str, Any]]:
    """The members of the object whose `{` is at `at`, each value as `_value` reads it."""
    at = _skip(text, at + 1)
    while text[at] != "}":
        key, at = scanstring(text, at + 1)
        value, at = _value(text, _skip(text, _skip(text, at) + 1))  # past the colon
        yield key, value
        at = _skip(text, at)
        if text[at] == ",":
            at = _skip(text, at + 1)


def trigger_summary(text: str) -> TriggerSummary:
    """The shape of a payload from its JSON text, read in the memory of its biggest
    element (not of the whole decoded payload)."""
    start = _skip(text, 0)
    fields: dict[str, Any] = {"size": _size(text)}
    if text[start] == "{":
        keys: list[str] = []
        arrays: dict[str, int] = {}
        length = 0
        for length, (key, value) in enumerate(_members(text, start), 1):
            if length <= KEYS:
                keys.append(key)
                if isinstance(value, _Array):
                    arrays[key] = int(value)
        fields |= {"type": "object", "length": length, "keys": keys, "array_lengths": arrays}
    else:
        value, _ = _value(text, start)
        if isinstance(value, _Array):
            fields |= {"type": "array", "length": int(value)}
        else:
            length_of = len(value) if isinstance(value, str) else None
            fields |= {"type": _type(value), "length": length_of}
    return TriggerSummary.model_validate(fields)


class TriggerShapes:
    """Which runs' payloads are small, and the shape of the others (per service process;
    shared by its request threads)."""

    def __init__(self, *, runs: int = RUNS) -> None:
        self._runs = runs
        self._known: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        #: payloads read to learn their size (what the tests look at)
        self.payloads_read = 0

    def run(self, log: RunLog, run_id: str) -> tuple[RunRecord, TriggerSummary | None]:
        """The run's record, its `trigger` whole when small (else None, and its shape)."""
        with self._lock:
            known = self._known.get(run_id)
            if known is not None:
                self._known.move_to_end(run_id)
        if known is _SMALL:
            return get_run(log, run_id), None
        if isinstance(known, TriggerSummary):
            return get_run(log, run_id, trigger=False), known
        run = get_run(log, run_id, trigger_json=True)  # masked JSON text, not decoded
        text: str = run.trigger
        summary = None
        # characters first: a text of more than INLINE characters has more bytes too
        if len(text) > INLINE or _size(text) > INLINE:
            summary = trigger_summary(text)
            run.trigger = None
        else:
            run.trigger = json.loads(text)
        self._keep(run_id, _SMALL if summary is None else summary)
        return run, summary

    def _keep(self, run_id: str, known: object) -> None:
        with self._lock:
            self.payloads_read += 1
            self._known[run_id] = known
            while len(self._known) > self._runs:
                self._known.popitem(last=False)


def trigger_text(log: RunLog, run_id: str) -> str:
    """A run's payload's JSON as stored (masked), not decoded (a Python object of a 60 MB
    payload takes several times that)."""
    text: str = get_run(log, run_id, trigger_json=True).trigger
    return text


def chunks(text: str) -> Iterator[str]:
    """`text` a chunk at a time (a response sent as it is sliced, not copied whole)."""
    for start in range(0, len(text), CHUNK):
        yield text[start : start + CHUNK]
