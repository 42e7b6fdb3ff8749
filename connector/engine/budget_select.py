"""Which rate budgets a process's engine paces by: its own, or ones shared in PostgreSQL.

- `CONNECTOR_BUDGET=postgresql://...`: budgets shared through that database;
- `CONNECTOR_BUDGET=process`: the process's own budgets, whatever the run log;
- otherwise shared through the run log's database when the run log is PostgreSQL (the
  session's run log target, or `CONNECTOR_RUNLOG` for a run log handed over open), and the
  process's own budgets (as always) with a SQLite run log.

Chosen where the engine builds its budgets (`connector.engine.session`), so the CLI, the
service and the workers all pace by the same budgets with no wiring of their own. One
registry per database per process: every engine session of the process shares its
budgets (concurrency is a machine's, see `shared_budget`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connector.clock import Clock, SystemClock
from connector.errors import InvalidConfiguration

__all__ = ["BUDGET_ENV", "registry_for", "shared_budget_url"]

BUDGET_ENV = "CONNECTOR_BUDGET"
_PG_SCHEMES = ("postgresql", "postgres")
_IN_PROCESS = ("process", "local")

_SHARED: dict[str, Any] = {}


def _is_postgres(target: str) -> bool:
    return "://" in target and target.split("://", 1)[0].lower() in _PG_SCHEMES


def shared_budget_url(runlog: Any, env: Mapping[str, str]) -> str | None:
    """The database the budgets are shared through, or None for the process's own."""
    explicit = (env.get(BUDGET_ENV) or "").strip()
    if explicit:
        if explicit.lower() in _IN_PROCESS:
            return None
        if not _is_postgres(explicit):
            shown = explicit.split("://", 1)[0][:20] + ("://..." if "://" in explicit else "")
            raise InvalidConfiguration(
                f"expected a postgresql://... URL, or 'process' for this process's own "
                f"budgets, got {shown!r}",
                where=BUDGET_ENV,
            )
        return explicit
    if isinstance(runlog, str | Path):
        text = str(runlog)
        return text if _is_postgres(text) else None
    store = getattr(runlog, "store", None)
    if store is not None:  # a run log handed over open: PostgreSQL's keeps its URL
        url = getattr(store, "url", None)
        return url if isinstance(url, str) and _is_postgres(url) else None
    fallback = (env.get("CONNECTOR_RUNLOG") or "").strip()
    return fallback if runlog is not None and _is_postgres(fallback) else None


def registry_for(runlog: Any, env: Mapping[str, str], clock: Clock | None = None) -> Any:
    """The budget registry for an engine session: None (the process's own, shared
    process-wide), or a `SharedBudgetRegistry` (one per database per process; a fresh one
    on a simulated clock, which also stands in for the database's)."""
    url = shared_budget_url(runlog, env)
    if url is None:
        return None
    from connector.engine.runlog_store import url_where
    from connector.engine.shared_budget import SharedBudgetRegistry

    where = url_where(url)
    if clock is not None and not isinstance(clock, SystemClock):
        return SharedBudgetRegistry(url, where, clock, db_clock=False)
    registry = _SHARED.get(url)
    if registry is None:
        registry = _SHARED[url] = SharedBudgetRegistry(url, where)
    return registry
