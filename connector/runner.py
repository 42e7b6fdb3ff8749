"""ActionRunner: performs one attempt of one action against its app's API.

An action either declares its request in its manifest (method, path, query, body; run by
`_declarative` below) or names a handler, `package.module:function`, for actions with logic
beyond one request (pagination, several calls, normalisation). Handlers get a HandlerContext
whose `request` goes through the same client, translation and rate budget.

The runner never retries: the engine decides that from the error's class.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from connector import errors as E
from connector.budget import RequestBudget, UnlimitedBudget
from connector.credentials import checked_credential
from connector.http.client import AppClient
from connector.http.paths import fill_path
from connector.http.request_plan import RequestPlan
from connector.http.source_address import source_address
from connector.http.translate import Translator, _field
from connector.pagination import Pagination, follow_pages

__all__ = ["ActionRunner", "Handler", "HandlerContext", "resolve_handler"]

Handler = Callable[["HandlerContext", dict[str, Any]], Awaitable[Any]]


@dataclass
class HandlerContext:
    """What a handler may use: its action, its app, and requests through the runner."""

    action: Any
    app: Any
    client: AppClient
    #: extra values a handler may read (e.g. the page limit of a list-all)
    extra: dict[str, Any] = field(default_factory=dict)
    #: the runner, for a handler built on other actions (a trigger lists links through
    #: bitly.list_group_bitlinks): their requests share this budget and translation
    runner: ActionRunner | None = None

    @property
    def action_id(self) -> str:
        return str(self.action.id)

    @property
    def max_response_bytes(self) -> int | None:
        return getattr(self.action, "max_response_bytes", None)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        path_params: Mapping[str, Any] | None = None,
    ) -> Any:
        """One request relative to the app's base URL; `{name}` filled from `path_params`."""
        where = self.action_id
        try:
            filled = fill_path(path, path_params or {})
        except E.InvalidInput as exc:
            raise E.InvalidInput(exc.message, where=where) from None
        return await self.client.request(
            where,
            method,
            filled,
            params=dict(params or {}),
            json_body=json,
            max_bytes=self.max_response_bytes,
        )

    async def request_url(self, url: str) -> Any:
        """GET a URL the API handed out (a next page), resolved against the base URL;
        refused unless it lies under the base URL."""
        return await self.client.request(
            self.action_id,
            "GET",
            str(self.client.base_url.join(url)),
            max_bytes=self.max_response_bytes,
        )

    def is_under_base(self, url: str) -> bool:
        return self.client.is_under_base(url)

    def absolute(self, url: str) -> str:
        """A URL the API handed out (absolute or relative), resolved against the base URL."""
        return str(self.client.base_url.join(url))


def resolve_handler(dotted: str) -> Handler:
    """`connector.apps.bitly.metrics:get_link_click_metrics` -> the coroutine function."""
    found = _HANDLERS.get(dotted)
    if found is None:
        # Once per handler, not per call: a loop calls it for every item.
        found = _HANDLERS[dotted] = _import_handler(dotted)
    return found


_HANDLERS: dict[str, Handler] = {}


def _import_handler(dotted: str) -> Handler:
    module_name, sep, attr = dotted.partition(":")
    if not sep or not module_name or not attr:
        raise E.InvalidConfiguration(f"handler {dotted!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise E.InvalidConfiguration(f"handler {dotted!r}: module not found ({exc.name})") from None
    func: Handler | None = getattr(module, attr, None)
    if func is None or not callable(func):
        raise E.InvalidConfiguration(f"handler {dotted!r}: {module_name} has no function {attr!r}")
    return func


class ActionRunner:
    """Runs actions of a catalog; one pooled client per app and credential."""

    def __init__(
        self,
        catalog: Any,
        *,
        base_urls: dict[str, str] | None = None,
        credentials: dict[str, str] | None = None,
        budgets: dict[str, RequestBudget] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> None:
        self.catalog = catalog
        self._base_urls = dict(base_urls or {})
        self._credentials = dict(credentials or {})
        self._budgets = dict(budgets or {})
        self._transport = transport
        self._env = env
        #: the local address requests leave from (CONNECTOR_SOURCE_ADDRESS), checked now
        self._local_address = source_address(env)
        self._clients: dict[tuple[str, str], AppClient] = {}
        #: each declarative action's request, compiled on its first call
        self._plans: dict[str, RequestPlan] = {}
        for app, value in self._credentials.items():
            self._credentials[app] = checked_credential(value, f"credentials[{app!r}]")

    async def __aenter__(self) -> ActionRunner:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    # -- configuration ---------------------------------------------------------------------

    def base_url(self, app: str) -> str:
        if app in self._base_urls:
            return self._base_urls[app]
        spec = self.catalog.apps[app]
        env_name = _field(spec, "base_url_env")
        if env_name and self._env.get(env_name):
            return self._env[env_name]
        return str(_field(spec, "base_url"))

    def credential(self, app: str, action_id: str) -> str:
        if self._credentials.get(app):
            return self._credentials[app]
        env_name = _field(self.catalog.apps[app], "credential_env")
        value = checked_credential(self._env.get(env_name) if env_name else None, str(env_name))
        if not value:
            raise E.MissingCredential(
                f"the {app} credential is not set: export {env_name}=<your token>", where=action_id
            )
        return value

    def budget(self, app: str) -> RequestBudget:
        return self._budgets.get(app) or UnlimitedBudget()

    def client(self, app: str, action_id: str) -> AppClient:
        credential = self.credential(app, action_id)
        key = (app, credential)
        if key not in self._clients:
            spec = self.catalog.apps[app]
            limits = _field(spec, "rate_limits")
            budget = self.budget(app)
            # Size the pool from the budget in force (it may override the manifest's limit),
            # else the pool, not the budget, would cap concurrency.
            concurrency = getattr(budget, "concurrency", None)
            if concurrency is None and limits is not None:
                concurrency = _field(limits, "concurrency")
            self._clients[key] = AppClient(
                app=app,
                base_url=self.base_url(app),
                credential=credential,
                translator=Translator.for_app(
                    spec, plan_features=_plan_features(self.catalog, app)
                ),
                budget=budget,
                transport=self._transport,
                concurrency=concurrency,
                local_address=self._local_address,
            )
        return self._clients[key]

    def context(self, action_id: str) -> HandlerContext:
        action = self.catalog.get(action_id)
        return HandlerContext(
            action=action,
            app=self.catalog.apps[action.app],
            client=self.client(action.app, action.id),
            runner=self,
        )

    # -- running ---------------------------------------------------------------------------

    async def run(self, action_id: str, prepared_inputs: dict[str, Any]) -> Any:
        """One attempt of `action_id` with inputs already prepared by the catalog."""
        ctx = self.context(action_id)
        action = ctx.action
        if action.handler:
            handler = resolve_handler(action.handler)
            return await handler(ctx, dict(prepared_inputs))
        plan = self._plans.get(action_id)
        if plan is None:
            if action.request is None:
                raise E.InvalidConfiguration(
                    "the action declares neither a request nor a handler", where=action_id
                )
            # Once per action, not per call: a loop sends thousands of the same request.
            plan = self._plans[action_id] = RequestPlan.compile(action.request)
        pagination = Pagination.parse(getattr(action, "pagination", None))
        if pagination is None:
            return await _declarative(ctx, plan, prepared_inputs)
        first = await _declarative(ctx, plan, prepared_inputs, pagination)
        return await follow_pages(ctx, first, pagination, prepared_inputs, ctx.client.app)

    async def reconcile(self, action_id: str, prepared_inputs: dict[str, Any]) -> Any | None:
        """Was a write whose outcome is unknown applied? Its output if so, else None."""
        ctx = self.context(action_id)
        if not ctx.action.reconcile:
            raise E.InvalidConfiguration(
                "the action declares no reconcile handler", where=action_id
            )
        handler = resolve_handler(ctx.action.reconcile)
        return await handler(ctx, dict(prepared_inputs))


def _plan_features(catalog: Any, app: str) -> dict[str, str]:
    """Action id -> the paid-plan feature it needs, for the app's 402 messages."""
    actions = getattr(catalog, "actions", {}).values()
    return {
        a.id: a.plan_feature for a in actions if a.app == app and getattr(a, "plan_feature", None)
    }


async def _declarative(
    ctx: HandlerContext,
    plan: RequestPlan,
    inputs: Mapping[str, Any],
    pagination: Pagination | None = None,
) -> Any:
    """Fill the action's compiled request from the inputs and send it."""
    params, body = plan.fill(inputs)
    if pagination is not None:
        params = dict(params or {})
        pagination.first_page_params(params, inputs)
    return await ctx.request(plan.method, plan.path, params=params, json=body, path_params=inputs)
