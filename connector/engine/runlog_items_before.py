"""A loop's items read backwards from one of them: where the page before a page starts
(the service's `prev_cursor`, the console's "previous" link).

runlog_items.py reads forwards (`idx > ? ORDER BY idx LIMIT n`); this is its mirror, one
keyset query for indices only (`idx < ? ORDER BY idx DESC LIMIT n`), so going back a page
costs what going forward does, however far into a million items it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.engine.runlog_errors import runlog_error

if TYPE_CHECKING:
    from connector.engine.runlog import RunLog

__all__ = ["indices_before"]


def indices_before(
    log: RunLog,
    run_id: str,
    step_id: str,
    before: int,
    count: int,
    *,
    status: str | None = None,
) -> list[int]:
    """The indices of at most `count` items of loop step `step_id` just before index
    `before` (optionally only those with `status`), nearest first."""
    sql = "SELECT idx FROM loop_items WHERE run_id=? AND step_id=? AND idx < ?"
    args: tuple[Any, ...] = (run_id, step_id, before)
    if status:
        sql += " AND status=?"
        args += (status,)
    try:
        rows = log.store.execute(sql + " ORDER BY idx DESC LIMIT ?", (*args, count)).fetchall()
    except log.store.errors as exc:
        raise runlog_error(exc, log.where, "reading loop items") from None
    return [int(row[0]) for row in rows]
