"""Binary content in an action's output: how a workflow passes an image on, and how the CLI
finds the bytes to write (`connector actions run ... --save-binary FILE`).

An output carries binary content as `{"content_type": ..., "base64": ...}` at its top level,
or as a top-level string that is a base64 data URL (`data:image/png;base64,...`).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

__all__ = ["binary_content", "split_data_url"]

_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(?P<data>.*)", re.S)


def split_data_url(value: Any) -> tuple[str, bytes] | None:
    """(content type, bytes) of a base64 data URL; None for anything else."""
    match = _DATA_URL.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    return _decoded(match.group("type"), match.group("data"))


def binary_content(output: Any) -> tuple[str, bytes] | None:
    """(content type, bytes) an output carries: its `base64` field, else the first top-level
    data URL; None when it carries none."""
    if not isinstance(output, dict):
        return None
    encoded = output.get("base64")
    if isinstance(encoded, str):
        content_type = output.get("content_type")
        kind = content_type if isinstance(content_type, str) else "application/octet-stream"
        return _decoded(kind, encoded)
    for value in output.values():
        found = split_data_url(value)
        if found is not None:
            return found
    return None


def _decoded(content_type: str, text: str) -> tuple[str, bytes] | None:
    try:
        return content_type, base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
