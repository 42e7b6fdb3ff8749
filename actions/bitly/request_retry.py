"""Retrying one request inside a composite action.

A composite sends many requests in one action call (a report reads a campaign's every link,
a batch shortens hundreds of URLs); were each failure to fail the whole call, a 30% fault rate
would fail nearly every call, and the engine's retry would send everything again. So each of
their requests is retried on its own, only on retryable errors (5xx, dropped connections,
throttles) and only where sending it again is harmless: reads, POST /shorten (Bitly answers
a URL already shortened with its link) and the bulk PATCH (it sets a state). The waits grow
exponentially and are never shorter than the window the server named; the request goes
through the action's client each time, so every try holds a slot of the app's shared budget.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any, TypeVar

from connector import errors as E
from connector.clock import Clock, SystemClock
from connector.engine.retry_policy import RetryPolicy
from connector.runner import HandlerContext, resolve_handler

__all__ = [
    "DEFAULT_POLICY",
    "RetryingContext",
    "Tries",
    "request_retried",
    "retried",
    "run_retried",
]

T = TypeVar("T")

#: per request, when the context carries none (`ctx.extra["retry_policy"]`)
DEFAULT_POLICY = RetryPolicy(max_attempts=4, initial_delay=0.5, multiplier=2, max_delay=8)


class Tries:
    """The retry policy, clock and jitter one action call uses for its requests."""

    def __init__(self, ctx: HandlerContext) -> None:
        policy = ctx.extra.get("retry_policy")
        clock = ctx.extra.get("clock")
        self.policy: RetryPolicy = policy if isinstance(policy, RetryPolicy) else DEFAULT_POLICY
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.rng = random.Random()

    async def wait_or_raise(self, failed: int, exc: E.ActionError) -> None:
        """Wait before try `failed + 1`, or raise `exc` when the policy says stop."""
        if not self.policy.should_retry(failed, exc):
            raise exc
        await self.clock.sleep(self.policy.wait_after(failed, exc, self.rng))


async def retried(tries: Tries, send: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """`send()`'s result and how many tries it took; its last error once the policy stops."""
    failed = 0
    while True:
        try:
            return await send(), failed + 1
        except E.ActionError as exc:
            failed += 1
            await tries.wait_or_raise(failed, exc)


async def request_retried(
    ctx: HandlerContext,
    method: str,
    path: str,
    *,
    tries: Tries | None = None,
    **kwargs: Any,
) -> Any:
    """`ctx.request(...)`, retried under the policy (for requests safe to send again)."""
    result, _ = await retried(tries or Tries(ctx), lambda: ctx.request(method, path, **kwargs))
    return result


@dataclass
class RetryingContext(HandlerContext):
    """A handler context whose every request is retried under `tries`: another action's
    handler run inside a composite (a link's metrics in a report) gets the same retries."""

    tries: Tries | None = None

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        plain = super().request
        tries = self.tries or Tries(self)
        result, _ = await retried(tries, lambda: plain(method, path, **kwargs))
        return result


async def run_retried(
    ctx: HandlerContext, action_id: str, raw: Mapping[str, Any], tries: Tries
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
