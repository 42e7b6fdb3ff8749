"""The limits in force for an app: learned from the API, set by the user, checked monthly.

An app whose manifest names a `rate_limits.learn` module can read the account's real
limits from its API. That module provides:

- `async platform_limits(client) -> list[EndpointLimit]`: per-endpoint limits with what is
  already used; they replace the manifest's minute/hour defaults (a basic account's);
- `async plan_limits(client) -> list[PlanFigure]`: monthly plan figures (limit, used);
- `plan_use(method, template) -> list[str]`: the monthly figures one request to an endpoint
  uses (every request may use some, such as API calls).

Learned figures are read once per process (per app, base URL and credential) and read
again only when a throttle shows them stale, at most once a minute. A user can set limits
too: a workflow's `limits`, a connection's (the Python API's `limits=`), or the environment
variable `CONNECTOR_LIMITS_<APP>` (`per_minute=50,per_hour=500`); the lowest figure wins.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from connector.engine.rate_limits import EndpointLimit, RateLimitSpec, parse_limits_text
from connector.errors import InvalidConfiguration, MissingCredential, QuotaExhausted

if TYPE_CHECKING:
    from connector.engine.rate_budget import RateBudget

__all__ = [
    "LimitRow",
    "LimitsReport",
    "PlanFigure",
    "check_month",
    "ensure_learned",
    "env_limits",
    "env_name",
    "learn_hook",
    "limits_in_force",
    "read_platform_limits",
]

#: a stale reading is refreshed at most this often (seconds)
REFRESH_EVERY = 60.0


@dataclass(frozen=True)
class PlanFigure:
    """One monthly plan figure: `count` of `limit` used this month."""

    name: str
    limit: int
    count: int
    description: str = ""

    @property
    def left(self) -> int:
        return max(0, self.limit - self.count)


def env_name(app: str) -> str:
    return "CONNECTOR_LIMITS_" + app.upper().replace("-", "_").replace(".", "_")


def env_limits(app: str, env: Mapping[str, str]) -> dict[str, int] | None:
    """The limits `CONNECTOR_LIMITS_<APP>` sets, if any."""
    name = env_name(app)
    text = env.get(name)
    return parse_limits_text(text, name) if text else None


def learn_hook(app_spec: Any) -> ModuleType | None:
    """The app's limit-learning module (`rate_limits.learn`), imported once."""
    limits = getattr(app_spec, "rate_limits", None)
    name = getattr(limits, "learn", None) if limits is not None else None
    if not name:
        return None
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise InvalidConfiguration(
            f"rate_limits.learn names {name!r}, which cannot be imported: {exc}",
            where=f"{getattr(app_spec, 'key', '') or 'app'}.rate_limits.learn",
        ) from None


#: (app, base URL, credential digest) -> (endpoints, where they came from)
_LEARNED: dict[tuple[str, str, str], tuple[tuple[EndpointLimit, ...], str]] = {}


async def read_platform_limits(
    app: str, hook: ModuleType, client: Any, credential: str, *, refresh: bool = False
) -> tuple[tuple[EndpointLimit, ...], str]:
    """The API's per-endpoint limits for this account (read once per process)."""
    digest = hashlib.sha256(credential.encode()).hexdigest()[:16]
    key = (app, str(client.base_url), digest)
    if refresh or key not in _LEARNED:
        endpoints = tuple(await hook.platform_limits(client))
        _LEARNED[key] = (endpoints, f"{app} API: {hook.SOURCE}")
    return _LEARNED[key]


async def ensure_learned(
    app: str, app_spec: Any, budget: RateBudget, client: Any, credential: str
) -> None:
    """Pace `budget` by the account's real limits once they are known (see module doc)."""
    hook = learn_hook(app_spec)
    if hook is None or not budget.spec.learn:
        return
    # Callers that arrive while the figures are being read wait for them: a request sent
    # meanwhile would be counted neither by the API's answer nor by the new windows. So
    # `learned_at` is set only once the read is over: until then every caller finds it
    # unset (Engine.call) and queues here, rather than going out counted by the declared
    # figures' windows, which the learned ones replace (on a shared budget those requests
    # would then be counted in no endpoint window: a window overrun).
    async with budget.learning:
        learned_at = budget.learned_at
        now = budget.clock.now()
        if learned_at is not None and not (budget.stale and now - learned_at >= REFRESH_EVERY):
            return
        try:
            endpoints, source = await read_platform_limits(
                app, hook, client, credential, refresh=learned_at is not None
            )
            budget.apply(budget.spec.learned(endpoints, source))
        finally:
            budget.learned_at = now  # a failed read is not retried: the declared figures hold


def check_month(
    figures: list[PlanFigure], per_item: Mapping[str, int], items: int, *, where: str
) -> None:
    """Fail before the first request when `items` items, each using `per_item[name]` of a
    monthly figure, exceed what is left of the month; the message says how many fit."""
    for figure in figures:
        units = per_item.get(figure.name, 0)
        if units <= 0 or items * units <= figure.left:
            continue
        fits = figure.left // units
        raise QuotaExhausted(
            f"{items} items would exceed this month's {figure.name} limit ({figure.count} of "
            f"{figure.limit} used, {figure.left} left): only {fits} of them fit; "
            f"nothing was sent",
            where=where,
        )


def spec_with_user_limits(
    spec: RateLimitSpec, app: str, env: Mapping[str, str], connection: Mapping[str, Any] | None
) -> RateLimitSpec:
    """The manifest's (or an override's) spec, tightened by the environment and the
    connection's limits."""
    given = env_limits(app, env)
    if given:
        spec = spec.tightened(given, f"environment {env_name(app)}")
    if connection:
        from connector.engine.rate_limits import limits_from_mapping

        spec = spec.tightened(limits_from_mapping(connection, f"limits.{app}"), "connection")
    return spec


@dataclass
class LimitRow:
    """One figure in force: `limit` requests a `window` for `scope`, and where it came from."""

    scope: str  # "app" or an endpoint ("POST /v4/shorten")
    window: str  # "concurrent", "second", "minute", "hour", "month"
    limit: int
    source: str
    used: int | None = None


@dataclass
class LimitsReport:
    app: str
    windows: str
    rows: list[LimitRow]
    plan: list[PlanFigure]
    #: why the API's own figures are not shown, when they are not
    note: str | None = None


async def limits_in_force(
    catalog: Any,
    app: str,
    *,
    base_urls: Mapping[str, str] | None = None,
    credentials: Mapping[str, str] | None = None,
    env: Mapping[str, str],
    workflow_limits: Mapping[str, int] | None = None,
) -> LimitsReport:
    """What a run of `app` would pace by now, read from the API when the app can tell;
    `workflow_limits`: what a workflow sets for the app."""
    from connector.engine.rate_budget import BudgetRegistry
    from connector.engine.session import build_budgets
    from connector.runner import ActionRunner

    spec_of_app = catalog.apps[app]
    budget: RateBudget = build_budgets(
        catalog,
        credentials=credentials,
        env=env,
        registry=BudgetRegistry(),  # not a run's
    )[app]
    if workflow_limits:
        budget.apply(budget.spec.tightened(workflow_limits, "workflow"))
    note = None
    plan: list[PlanFigure] = []
    hook = learn_hook(spec_of_app)
    if hook is None:
        note = f"{app} cannot report its own limits: the manifest's figures apply"
    else:
        async with ActionRunner(
            catalog, base_urls=dict(base_urls or {}), credentials=dict(credentials or {}), env=env
        ) as runner:
            where = f"{app}.limits"
            try:
                credential = runner.credential(app, where)
            except MissingCredential as exc:
                note = f"not read from the API ({exc.message}): the manifest's figures apply"
            else:
                client = runner.client(app, where)
                await ensure_learned(app, spec_of_app, budget, client, credential)
                plan = list(await hook.plan_limits(client))
    return LimitsReport(app, budget.spec.windows, _rows(budget), plan, note)


def _rows(budget: RateBudget) -> list[LimitRow]:
    spec = budget.spec
    rows = []
    if spec.concurrency:
        rows.append(
            LimitRow("app", "concurrent", spec.concurrency, spec.source("concurrency") or "?")
        )
    for name in ("per_second", "per_minute", "per_hour", "per_month"):
        value = getattr(spec, name)
        if value:
            rows.append(LimitRow("app", name[4:], value, spec.source(name) or "?"))
    for bucket, per_minute, per_hour in spec.buckets:
        for window, value in (("minute", per_minute), ("hour", per_hour)):
            if value:
                rows.append(LimitRow(f"bucket {bucket}", window, value, "manifest"))
    for ep in spec.endpoints:
        for name, used in (("per_minute", None), ("per_hour", ep.used_hour)):
            value = getattr(ep, name)
            if value:
                source = spec.source(f"{ep.label} {name}") or "?"
                rows.append(LimitRow(ep.label, name[4:], value, source, used))
    return rows
