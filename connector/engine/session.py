"""Wiring for one process: catalog, shared rate budgets, runner, run log and engine.

The CLI, the tests and the benchmarks build engines here so that every runner of the
process shares the same budget per app and credential.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from connector.clock import Clock, SystemClock
from connector.credentials import register_credentials
from connector.engine.budget_select import registry_for
from connector.engine.executor import Engine
from connector.engine.limits import spec_with_user_limits
from connector.engine.progress import Progress
from connector.engine.rate_budget import BudgetRegistry, RateBudget, RateLimitSpec
from connector.engine.retry_policy import RandomSource
from connector.engine.runlog import RunLog
from connector.engine.shared_budget import SharedBudgetRegistry

__all__ = ["build_budgets", "engine_session", "register_credentials", "throttle_defaults"]

_REGISTRY = BudgetRegistry()


def build_budgets(
    catalog: Any,
    *,
    credentials: Mapping[str, str] | None = None,
    env: Mapping[str, str] = os.environ,
    overrides: Mapping[str, RateLimitSpec] | None = None,
    registry: BudgetRegistry | None = None,
    limits: Mapping[str, Mapping[str, int]] | None = None,
    runlog: Any = None,
) -> dict[str, RateBudget]:
    """One budget per app, keyed by the credential it will use (shared process-wide, or
    across processes in PostgreSQL: `budget_select`, from `runlog` and `env`).

    `overrides` replace an app's limits outright (tests, benchmarks); `limits` are the
    connection's own figures, tightened with `CONNECTOR_LIMITS_<APP>` (the lowest wins).
    """
    registry = registry or registry_for(runlog, env) or _REGISTRY
    budgets = {}
    for name, app in catalog.apps.items():
        credential = (credentials or {}).get(name)
        if credential is None:
            env_name = getattr(app, "credential_env", None)
            credential = env.get(env_name, "") if env_name else ""
        credential = credential.strip()  # as the runner sends it (connector.credentials)
        override = (overrides or {}).get(name)
        if override is not None:
            spec = replace(override, learn=False)  # exactly these limits, nothing learned
        else:
            spec = RateLimitSpec.from_manifest(getattr(app, "rate_limits", None))
        if not spec.throttle_defaults:
            spec = replace(spec, throttle_defaults=throttle_defaults(app))
        spec = spec_with_user_limits(spec, name, env, (limits or {}).get(name))
        budgets[name] = registry.get(name, credential, spec)
    return budgets


def throttle_defaults(app: Any) -> frozenset[float]:
    """The waits the HTTP layer fills in when a throttle names none (its error table's
    `retry_after_default`s and its fallback): seen in an error, they mean "no hint"."""
    from connector.http.translate import DEFAULT_THROTTLE_WINDOW

    values = {DEFAULT_THROTTLE_WINDOW}
    for rule in getattr(app, "errors", None) or ():
        default = getattr(rule, "retry_after_default", None)
        if default and getattr(rule, "error", None) == "throttled":
            values.add(float(default))
    return frozenset(values)


@asynccontextmanager
async def engine_session(
    catalog: Any,
    runlog: RunLog | Path | str,
    *,
    base_urls: dict[str, str] | None = None,
    credentials: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    overrides: Mapping[str, RateLimitSpec] | None = None,
    clock: Clock | None = None,
    rng: RandomSource | None = None,
    progress: Progress | None = None,
    env: Mapping[str, str] = os.environ,
    max_wait: float | None = None,
    limits: Mapping[str, Mapping[str, int]] | None = None,
) -> AsyncIterator[Engine]:
    """An Engine over a real ActionRunner; closes the runner's clients (and an owned run log).

    `limits`: the connection's rate limits per app ({"bitly": {"per_minute": 50}})."""
    from connector.runner import ActionRunner

    clock = clock or SystemClock()
    # Known before the run log writes its first row: the run's trigger and workflow snapshot
    # are written before any request, and a token pasted into either must be masked too.
    register_credentials(catalog, credentials, env)
    registry = registry_for(runlog, env, clock)
    if registry is None and not isinstance(clock, SystemClock):
        registry = BudgetRegistry(clock)
    budgets = build_budgets(
        catalog,
        credentials=credentials,
        env=env,
        overrides=overrides,
        registry=registry,
        limits=limits,
    )
    owned = not isinstance(runlog, RunLog)
    log = RunLog(runlog) if not isinstance(runlog, RunLog) else runlog
    held = registry.hold() if isinstance(registry, SharedBudgetRegistry) else nullcontext()
    try:
        async with (
            held,
            ActionRunner(
                catalog,
                base_urls=base_urls,
                credentials=credentials,
                budgets=dict(budgets),
                transport=transport,
                env=env,
            ) as runner,
        ):
            yield Engine(
                catalog,
                runner,
                log,
                budgets=budgets,
                clock=clock,
                rng=rng,
                progress=progress,
                max_wait=max_wait,
            )
    finally:
        if owned:
            log.close()
