"""Retrying one request inside a composite action.

A composite sends many requests in one action call (a report reads a campaign's every link,
a batch shortens hundreds of URLs); were each failure to fail the whole call, a 30% fault rate
would fail nearly every call, and the engine's retry would send everything again. So each of
their requests is retried on its own, only on retryable errors (5xx, dropped connections,
throttles) and only where sending it again is harmless: reads, POST /shorten (Bitly answers
a URL already shortened with its link) and the bulk PATCH (it sets a state).

The tries come from the engine's call (`connector.engine.request_tries`): the run's retry
policy and clock, one count per request across the composite's retries and the engine's, so
no request is tried more than `max_attempts` times in all, with the engine's waits (backoff,
Retry-After, the shared budget's throttle pause, `max_wait`). The request goes through the
action's client each time, so every try holds a slot of the app's shared budget. Outside the
engine (`connector actions run`: one attempt, no outer retry) a call gets tries of its own
under DEFAULT_POLICY.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any, TypeVar

from connector import errors as E
from connector.clock import SystemClock
from connector.engine.request_tries import CALL_TRIES, RequestTries, request_key
from connector.engine.retry_policy import RetryPolicy
from connector.http.paths import fill_path
from connector.runner import HandlerContext, resolve_handler

__all__ = [
    "DEFAULT_POLICY",
    "RetryingContext",
    "request_retried",
    "retried",
    "run_retried",
    "tries_for",
]

T = TypeVar("T")

#: per request, for a call the engine does not run (no outer retry: at most 4 tries in all)
DEFAULT_POLICY = RetryPolicy(max_attempts=4, initial_delay=0.5, multiplier=2, max_delay=8)


def tries_for(ctx: HandlerContext) -> RequestTries:
    """The tries of the action call `ctx` belongs to: the engine's, or a new set of its own."""
    current = CALL_TRIES.get()
    if current is not None:
        return current
    return RequestTries(DEFAULT_POLICY, clock=SystemClock(), budget=ctx.client.budget)


async def retried(tries: RequestTries, label: str, send: Callable[[], Awaitable[T]]) -> T:
    """`send()` (one request, named by `label`), tried under `tries`."""
    return await tries.send(label, send, label=label)


def _key(method: str, path: str, kwargs: Mapping[str, Any]) -> tuple[str, str]:
    try:
        filled = fill_path(path, kwargs.get("path_params") or {})
    except E.InvalidInput:
        filled = path  # the request itself says what is wrong with it
    return request_key(method, filled, kwargs.get("params"), kwargs.get("json"))


async def request_retried(
    ctx: HandlerContext,
    method: str,
    path: str,
    *,
    tries: RequestTries | None = None,
    **kwargs: Any,
) -> Any:
    """`ctx.request(...)`, retried under the call's tries (for requests safe to send again)."""
    key, label = _key(method, path, kwargs)
    return await (tries or tries_for(ctx)).send(
        key, lambda: ctx.request(method, path, **kwargs), label=label
    )


@dataclass
class RetryingContext(HandlerContext):
    """A handler context whose every request is retried under `tries`: another action's
    handler run inside a composite (a link's metrics in a report) gets the same retries."""

    tries: RequestTries | None = None

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        plain = super().request
        key, label = _key(method, path, kwargs)
        tries = self.tries or tries_for(self)
        return await tries.send(key, lambda: plain(method, path, **kwargs), label=label)


async def run_retried(
    ctx: HandlerContext, action_id: str, raw: Mapping[str, Any], tries: RequestTries
) -> Any:
    """Another handler action of the catalog, through the same runner (budget, translation),
    each of its requests retried (for reads only)."""
    runner = ctx.runner
    if runner is None:
        raise E.InvalidConfiguration("this handler needs the ActionRunner", where=ctx.action_id)
    prepared = runner.catalog.prepare_inputs(action_id, dict(raw), {})
    plain = runner.context(action_id)
    if not plain.action.handler:
        raise E.InvalidConfiguration(f"{action_id} has no handler to run", where=ctx.action_id)
    fields = {f.name: getattr(plain, f.name) for f in dataclass_fields(HandlerContext)}
    wrapped = RetryingContext(**fields, tries=tries)
    return await resolve_handler(plain.action.handler)(wrapped, prepared)
