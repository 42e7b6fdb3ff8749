"""Webhook triggers: manifests of `kind: trigger` with `trigger.type: webhook`.

The API calls a URL of ours once per event (the service's `POST /v1/hooks/{hook_id}`).
Enabling the trigger registers that URL with the API (`subscribe`, the manifest's
`trigger.subscribe` run with the ActionRunner: same budget, same error translation) and
returns what disabling needs (`unsubscribe`). Each delivery is parsed by the trigger's
handler into one typed event (`parse_delivery`); its `trigger.event_id` field is the key
the receiver de-duplicates retried deliveries on (`event_key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector import errors as E
from connector.catalog.options import read_path
from connector.runner import ActionRunner, HandlerContext, resolve_handler

__all__ = [
    "delivery",
    "event_key",
    "key_at",
    "parse_delivery",
    "subscribe",
    "unsubscribe",
    "webhook_trigger",
]

_DELIVERY = "trigger_delivery"


def delivery(ctx: HandlerContext) -> Any:
    """The payload a webhook trigger's handler parses."""
    if _DELIVERY not in ctx.extra:
        raise E.InvalidInput(
            f"{ctx.action_id} is a webhook trigger: it parses a delivery (the service's hook "
            "URL receives them; `connector triggers parse` parses one)",
            where=ctx.action_id,
        )
    return ctx.extra[_DELIVERY]


def webhook_trigger(catalog: Any, trigger_id: str) -> Any:
    """The action `trigger_id`, checked to be a webhook trigger (InvalidInput otherwise)."""
    action = catalog.get(trigger_id)
    spec = action.trigger
    if action.kind != "trigger" or spec is None or spec.type != "webhook":
        what = f"a {spec.type} trigger" if spec is not None else f"a {action.kind}"
        raise E.InvalidInput(f"{trigger_id} is {what}, not a webhook trigger")
    return action


async def parse_delivery(
    catalog: Any, trigger_id: str, inputs: Mapping[str, Any], payload: Any
) -> dict[str, Any]:
    """The event of one delivery, validated by the trigger's handler (InvalidInput naming
    the malformed field)."""
    action = webhook_trigger(catalog, trigger_id)
    # Parsing sends nothing: the context has no HTTP client, and the inputs (which the
    # subscription used) are handed on as given.
    ctx = HandlerContext(action=action, app=catalog.apps[action.app], client=None)  # type: ignore[arg-type]
    ctx.extra[_DELIVERY] = payload
    event = await resolve_handler(action.handler)(ctx, dict(inputs))
    if not isinstance(event, dict):
        raise E.FatalError("the trigger's handler returned no event object", where=trigger_id)
    event_key(action, event)  # an event without its id is the handler's bug
    return event


def key_at(value: Any, path: str) -> str | None:
    """The text of the id at the dotted `path` of `value`; None when there is none (absent,
    null, empty, or not a string or a number)."""
    found = read_path(value, path)
    if isinstance(found, bool) or not isinstance(found, str | int) or found == "":
        return None
    return str(found)


def event_key(action: Any, event: Any) -> str:
    """The value that identifies `event` (the manifest's `trigger.event_id`), as text."""
    key = key_at(event, action.trigger.event_id)
    if key is None:
        raise E.FatalError(
            f"the event has no {action.trigger.event_id!r} to tell it apart", where=action.id
        )
    return key


async def subscribe(
    runner: ActionRunner, trigger_id: str, inputs: Mapping[str, Any], url: str
) -> dict[str, Any]:
    """Register `url` with the API; what `unsubscribe` needs later (JSON)."""
    action = webhook_trigger(runner.catalog, trigger_id)
    prepared = runner.catalog.prepare_inputs(trigger_id, dict(inputs), {})
    subscribe_fn: Any = resolve_handler(action.trigger.subscribe)  # (ctx, inputs, url)
    subscription = await subscribe_fn(runner.context(trigger_id), prepared, url)
    if not isinstance(subscription, dict):
        raise E.FatalError("the trigger's subscribe returned no subscription", where=trigger_id)
    return subscription


async def unsubscribe(
    runner: ActionRunner,
    trigger_id: str,
    inputs: Mapping[str, Any],
    subscription: Mapping[str, Any],
) -> None:
    """Remove the registration `subscribe` returned."""
    action = webhook_trigger(runner.catalog, trigger_id)
    prepared = runner.catalog.prepare_inputs(trigger_id, dict(inputs), {})
    unsubscribe_fn: Any = resolve_handler(action.trigger.unsubscribe)  # (ctx, inputs, sub)
    await unsubscribe_fn(runner.context(trigger_id), prepared, dict(subscription))
