"""A trigger's state between polls, in a JSON file replaced whole (never half written)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from connector.errors import InvalidConfiguration, InvalidInput
from connector.safe_load import load_json

__all__ = ["read_state", "write_state"]


def read_state(path: Path, trigger_id: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The stored state, or None when the file does not exist yet (a first poll). A state
    written for another trigger, or for other inputs, is refused: it would skip or repeat."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the trigger state: {exc}", where=str(path)) from None
    value = load_json(text, str(path))
    if not isinstance(value, dict) or not isinstance(value.get("state"), dict):
        raise InvalidInput(
            'not a trigger state file (expected {"trigger": ..., "inputs": ..., "state": {...}})',
            where=str(path),
        )
    if value.get("trigger") != trigger_id or value.get("inputs") != inputs:
        raise InvalidInput(
            f"this state was kept for {value.get('trigger')!s} with other inputs: "
            f"use another --state file for {trigger_id} with these inputs",
            where=str(path),
        )
    state: dict[str, Any] = value["state"]
    return state


def write_state(path: Path, trigger_id: str, inputs: dict[str, Any], state: dict[str, Any]) -> None:
    """Replace `path` with the new state: a crash leaves the old file or the new, whole."""
    document = {"trigger": trigger_id, "inputs": inputs, "state": state}
    text = json.dumps(document, ensure_ascii=False)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=directory)
    except OSError as exc:
        raise InvalidConfiguration(
            f"cannot write the trigger state: {exc.strerror or exc}", where=str(path)
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InvalidConfiguration(
            f"cannot write the trigger state: {exc.strerror or exc}", where=str(path)
        ) from None
