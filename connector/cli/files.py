"""Files the CLI writes for the user: whole or not at all."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from connector.errors import InvalidConfiguration

__all__ = ["write_whole"]


def write_whole(path: Path, data: bytes, what: str) -> None:
    """Write `data` to `path` whole or not at all (a temporary file, then renamed): a reader
    never finds half a file. `what` names the content in the error ("the export")."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise InvalidConfiguration(
            f"cannot write {what}: {exc.strerror or exc}", where=str(path)
        ) from None
