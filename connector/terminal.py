"""What reaches the terminal: control characters and escape sequences shown, never obeyed.

A workflow name, a run id, an API's error message or a value in an output may hold ESC
sequences (recolour, retitle, hide or rewrite earlier lines), a carriage return that
overwrites a line, bidirectional overrides that reorder what is read, or a lone surrogate
that makes printing itself fail. Everything the CLI prints goes through `escape`: such
characters become `\\u001b`-style text, which is also a valid escape inside JSON strings, so
`--json` output stays parseable. Newlines and tabs are kept.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["EscapingStream", "escape", "escaped_output"]

# C0 controls but tab and newline, DEL, C1 controls, the Unicode format characters that
# reorder or hide text (bidi marks, embeddings, overrides and isolates, zero-width ones,
# BOM, interlinear annotation), line/paragraph separators, and lone surrogates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
# The same, for text that is all ASCII: a table for str.translate, whose ASCII fast path
# checks a mebibyte of `runs show --json` several times faster than the pattern does.
_ASCII_UNSAFE = dict.fromkeys((*range(0x09), *range(0x0B, 0x20), 0x7F))
# What the progress bar writes on purpose at the start of a redraw (it needs a terminal).
_REDRAW = ("\r\x1b[K", "\r")


def escape(text: str) -> str:
    """`text` with every unsafe character written as `\\uXXXX`."""
    if text.isascii() and len(text.translate(_ASCII_UNSAFE)) == len(text):
        return text  # nothing to escape (the usual case, checked quickly)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class EscapingStream:
    """A text stream that escapes what is written to it (see the module doc)."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        for prefix in _REDRAW:
            if text.startswith(prefix) and self.raw.isatty():
                return self.raw.write(prefix + escape(text[len(prefix) :]))
        return self.raw.write(escape(text))

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def __getattr__(self, name: str) -> Any:  # fileno, encoding, ...
        return getattr(self.raw, name)


@contextlib.contextmanager
def escaped_output() -> Iterator[None]:
    """sys.stdout and sys.stderr escaped for the duration (restored after)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout = EscapingStream(out)
    sys.stderr = EscapingStream(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
