"""Text rendering of run results and run-log records for the CLI."""

from __future__ import annotations

import json
import time
from typing import Any

from connector.engine.runlog import ItemRecord, RunLog, RunRecord
from connector.lazy_array import MAX_MATERIALISED, LazyArray

__all__ = ["render_item_page", "render_run", "render_runs", "render_value"]


def _is_table(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) for v in value)
        and all(not isinstance(x, dict | list) for v in value for x in v.values())
    )


def _table(rows: list[dict[str, Any]], indent: str) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    cells = [[_scalar(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), int | float) for row in rows) for c in columns]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return indent + "  ".join(parts).rstrip()

    return [line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)]


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_value(value: Any, indent: str = "", *, limit: int | None = None) -> list[str]:
    """A JSON value as readable indented text; lists of flat objects become tables.

    With `limit`, a list shows its first `limit` entries and says how many it left out
    (a loop's 10,000 outputs are in the run log, not on the terminal).
    """
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list | LazyArray) and item:
                lines.append(f"{indent}{key}:")
                lines += render_value(item, indent + "  ", limit=limit)
            else:
                lines.append(f"{indent}{key}: {_scalar(item) if item != [] else '(none)'}")
        return lines
    if isinstance(value, LazyArray):  # a loop's items: only those shown are read
        shown = value[: limit if limit is not None else MAX_MATERIALISED]
        if len(shown) == len(value):
            return render_value(shown, indent, limit=limit)
        left_out = f"{indent}... {len(value) - len(shown):,} more of {len(value):,} not shown"
        return [*render_value(shown, indent, limit=limit), left_out]
    if isinstance(value, list) and limit is not None and len(value) > limit:
        left_out = f"{indent}... {len(value) - limit:,} more of {len(value):,} not shown"
        return [*render_value(value[:limit], indent, limit=limit), left_out]
    if _is_table(value):
        return _table(value, indent)
    if isinstance(value, list):
        lines = []
        for item in value:
            sub = render_value(item, indent + "  ", limit=limit)
            if sub:
                lines.append(f"{indent}- {sub[0].strip()}")
                lines += sub[1:]
        return lines
    return [f"{indent}{_scalar(value)}"]


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _duration(run: RunRecord) -> str:
    return f"{run.finished_at - run.started_at:.1f}s" if run.finished_at else "-"


def render_runs(runs: list[RunRecord]) -> list[str]:
    if not runs:
        return ["no runs"]
    rows = [
        {
            "run": r.id,
            "workflow": r.workflow_name,
            "status": r.display_status,
            "started": _when(r.started_at),
            "duration": _duration(r),
            "failed step": r.failed_step or "",
            "parent": r.parent_run_id or "",
        }
        for r in runs
    ]
    return _table(rows, "")


def _error_line(error: dict[str, Any]) -> str:
    parts = [error.get("message", "")]
    if error.get("status"):
        parts.append(f"HTTP {error['status']}")
    if error.get("code"):
        parts.append(f"code {error['code']}")
    if error.get("description") and error.get("description") not in parts[0]:
        parts.append(str(error["description"]))
    return " | ".join(p for p in parts if p)


def _attempt_lines(attempts: list[dict[str, Any]], indent: str) -> list[str]:
    lines = []
    for a in attempts:
        what = a.get("call", "request")
        step = f"{a['step']} " if "step" in a else ""
        status = f"HTTP {a['status']}" if a.get("status") else ""
        err = a.get("error") or {}
        code = err.get("code") or err.get("kind") or ""
        wait = f", then waited {a['wait']:.2f}s" if a.get("wait") is not None else ""
        text = (
            f"attempt {a.get('attempt')}: {step}{what} {a.get('result', '?')}"
            f" {status} {code} ({a.get('duration_ms', 0):.0f} ms){wait}"
        )
        lines.append(indent + " ".join(text.split()))
        lines += _request_lines(a.get("requests") or [], indent + "  ")
    return lines


def _request_lines(tries: list[dict[str, Any]], indent: str) -> list[str]:
    """A handler's own tries of its requests within one attempt, one line per request."""
    by_request: dict[str, list[dict[str, Any]]] = {}
    for t in tries:
        by_request.setdefault(str(t.get("request")), []).append(t)
    lines = []
    for request, runs in by_request.items():
        failed = [t for t in runs if t.get("result") == "failed"]
        statuses = sorted({f"HTTP {t['status']}" for t in failed if t.get("status")})
        waited = sum(float(t.get("wait") or 0) for t in runs)
        text = f"{request}: tried {max(int(t.get('try') or 0) for t in runs)} times"
        text += f", {len(failed)} failed" + (f" ({', '.join(statuses)})" if statuses else "")
        lost = sum(1 for t in runs if t.get("result") == "lost")
        if lost:  # cut off with a worker (request_journal.py): its answer unknown
            text += f", {lost} lost with its worker"
        if waited:
            text += f", waited {waited:.2f}s"
        lines.append(indent + text)
    return lines


def render_run(log: RunLog, run_id: str, *, items_limit: int = 20) -> list[str]:
    run = log.get_run(run_id, trigger_json=True)  # the payload is not shown: not decoded
    lines = [
        f"run {run.id}: {run.display_status}",
        f"  workflow: {run.workflow_name}" + (f" ({run.source_path})" if run.source_path else ""),
        f"  started:  {_when(run.started_at)}   duration: {_duration(run)}",
    ]
    if run.parent_run_id:
        lines.append(f"  retry of: {run.parent_run_id}")
    child = log.child_of(run.id)
    if child:
        lines.append(f"  retried as: {child}")
    if run.failed_step:
        lines.append(f"  failed step: {run.failed_step}")
    if run.error:
        lines.append(f"  error: {_error_line(run.error)}")
    lines.append("steps:")
    for step in log.steps(run.id):
        reused = f" (reused from {step.reused_from})" if step.reused_from else ""
        summary = ""
        if step.summary:
            summary = " " + ", ".join(f"{k} {v}" for k, v in step.summary.items())
        lines.append(f"  {step.step_id} [{step.kind}] {step.status}{reused}{summary}")
        if step.error:
            lines.append(f"    error: {_error_line(step.error)}")
            if step.error.get("loop"):
                lines.append(f"    {step.error['loop']}")
        lines += _attempt_lines(step.attempts, "    ")
        if step.kind == "loop":
            # The failed items only, and a page of them: the rest stay in the run log.
            failed = list(log.items(run.id, step.step_id, status="failed", limit=items_limit + 1))
            lines += _item_lines(failed[:items_limit], "    ")
            if len(failed) > items_limit:
                lines.append(
                    f"    ... more failed items: `connector runs show {run.id}"
                    f" --step {step.step_id} --after {failed[items_limit - 1].index}`"
                )
    return lines + _open_write_lines(log, run.id)


def _item_lines(items: list[ItemRecord], indent: str) -> list[str]:
    lines = []
    for item in items:
        lines.append(f"{indent}item {item.index} ({_scalar(item.item)[:60]}): {item.status}")
        if item.error:
            lines.append(f"{indent}  error: {_error_line(item.error)}")
        lines += _attempt_lines(item.attempts, indent + "  ")
    return lines


def render_item_page(items: list[ItemRecord]) -> list[str]:
    """A page of a loop's items (`runs show RUN --step STEP`): each item, its status, its
    error and attempts, or its output in brief."""
    if not items:
        return ["no items"]
    lines = []
    for item in items:
        lines += _item_lines([item], "")
        if item.status == "succeeded":
            lines.append(f"  output: {_brief_value(item.output)}")
    return lines


def _brief_value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 100 else text[:99] + "…"


def _open_write_lines(log: RunLog, run_id: str) -> list[str]:
    """Writes of the run's lineage whose outcome nobody knows: what a retry will do."""
    lineage = log.lineage_of(run_id)
    open_writes = [w for w in log.intents.open_in(lineage) if w.run_id == run_id]
    if not open_writes:
        return []
    lines = ["writes with an unknown outcome (a retry checks them before sending anything):"]
    for w in open_writes:
        lines.append(f"  {w.label}: {w.action_id} {w.state}")
    lines.append(
        f"  to settle one yourself: connector runs retry {run_id} --resolve ITEM=applied"
        " (or =not-applied)"
    )
    return lines
