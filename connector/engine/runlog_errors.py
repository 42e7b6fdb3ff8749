"""The run log's failures as one-line errors naming the file and what to do.

sqlite3 reports a damaged file, a read-only one and a full disk with its own exception
types and texts; they are translated here, once, into `RunLogError` (exit 2). Nothing from
sqlite3 escapes the run log unmapped.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from connector.errors import RunLogError

__all__ = ["runlog_error", "translated"]

# (words in sqlite's message, what happened, what to do), first match wins.
_CAUSES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("readonly", "read-only"),
        "is read-only",
        "make it (and its directory) writable, or point --home/CONNECTOR_HOME elsewhere; "
        "`connector runs list` and `runs show` can still read it",
    ),
    (
        ("disk is full", "database or disk is full", "file too large"),
        "cannot grow: the disk is full",
        "free some space, then `connector runs retry` the run (nothing more was sent)",
    ),
    (
        ("not a database", "malformed", "encrypted", "corrupt"),
        "is damaged (not a readable SQLite run log)",
        "move it aside to start a new one, or restore it from a backup",
    ),
    (
        ("locked", "busy"),
        "is locked by another process",
        "wait for the other run to finish, then try again",
    ),
    (
        ("unable to open", "cannot open"),
        "cannot be opened",
        "check that the path is a file and its directory is readable",
    ),
    (
        ("disk i/o error", "i/o error"),
        "could not be written (disk I/O error)",
        "check the disk and free space, then `connector runs retry` the run",
    ),
)


def runlog_error(exc: BaseException, path: Path | str, doing: str) -> RunLogError:
    """`exc` (a sqlite3.Error or OSError) raised while `doing` something with the run log."""
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    what, fix = "failed", "check the file, or point --home/CONNECTOR_HOME elsewhere"
    for words, cause, remedy in _CAUSES:
        if any(word in lowered for word in words):
            what, fix = cause, remedy
            break
    said = "" if text.lower() in what else f" ({text})"
    return RunLogError(f"the run log {what} while {doing}{said}; {fix}", where=str(path))


class _HasPath(Protocol):
    path: Path


F = TypeVar("F", bound=Callable[..., Any])


def translated(doing: str) -> Callable[[F], F]:
    """Decorate a RunLog method: sqlite3 errors become a RunLogError about `self.path`."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def inner(self: _HasPath, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise runlog_error(exc, self.path, doing) from None

        return cast(F, inner)

    return wrap
