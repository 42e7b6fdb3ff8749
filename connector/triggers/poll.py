"""One poll of a trigger, and what a trigger's handler reads from its context.

The handler is an ordinary action handler (`handler:` in the manifest), run through the
ActionRunner, so a poll's requests share the app's rate budget and error translation. It
finds the previous state and the replay flag in `ctx.extra` (`previous_state`,
`replay_requested`) and returns `{"events": [...], "state": {...}}`. Run as a plain action
(`actions run`, a cassette replay), it is a first poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector import errors as E
from connector.catalog.options import read_path
from connector.runner import ActionRunner, HandlerContext, resolve_handler

__all__ = ["PollResult", "poll_trigger", "previous_state", "replay_requested", "run_action"]

_STATE, _REPLAY = "trigger_state", "trigger_replay"


@dataclass(frozen=True)
class PollResult:
    """The events found since the previous poll, oldest first, and the state to keep."""

    events: list[Any]
    state: dict[str, Any]


def previous_state(ctx: HandlerContext) -> dict[str, Any] | None:
    """The state the previous poll returned; None on a first poll."""
    state = ctx.extra.get(_STATE)
    return dict(state) if isinstance(state, Mapping) else None


def replay_requested(ctx: HandlerContext) -> bool:
    """Whether a first poll returns what already exists as events."""
    return bool(ctx.extra.get(_REPLAY))


async def run_action(ctx: HandlerContext, action_id: str, raw: Mapping[str, Any]) -> Any:
    """Another action of the catalog, through the same runner (budget, translation)."""
    runner = ctx.runner
    if runner is None:
        raise E.InvalidConfiguration("this handler needs the ActionRunner", where=ctx.action_id)
    prepared = runner.catalog.prepare_inputs(action_id, dict(raw), {})
    return await runner.run(action_id, prepared)


def _result(action: Any, output: Any) -> PollResult:
    where = action.id
    if not isinstance(output, Mapping) or not isinstance(output.get("events"), list):
        raise E.FatalError("the trigger's handler returned no list of events", where=where)
    state = output.get("state")
    if not isinstance(state, dict):
        raise E.FatalError("the trigger's handler returned no state", where=where)
    ids = [read_path(event, action.trigger.event_id) for event in output["events"]]
    if len(set(map(repr, ids))) != len(ids):
        raise E.FatalError("the trigger's handler returned an event twice", where=where)
    return PollResult(list(output["events"]), state)


async def poll_trigger(
    runner: ActionRunner,
    trigger_id: str,
    inputs: Mapping[str, Any],
    state: Mapping[str, Any] | None,
    *,
    replay: bool = False,
) -> PollResult:
    """Poll `trigger_id` once from `state` (None: a first poll).

    Raises InvalidInput for an id that is not a trigger or bad inputs, and the API's error
    (ActionError) when a request fails: a failed poll returns nothing, so the caller keeps
    the old state and the next poll misses nothing.
    """
    catalog = runner.catalog
    action = catalog.get(trigger_id)
    if action.kind != "trigger" or action.handler is None:
        raise E.InvalidInput(
            f"{trigger_id} is a {action.kind}, not a trigger; run it with `connector actions run`"
        )
    if action.trigger.type != "polling":
        raise E.InvalidInput(
            f"{trigger_id} is a {action.trigger.type} trigger: its events are delivered to the "
            "service's hook URL, not polled (`connector triggers parse` parses a delivery)"
        )
    prepared = catalog.prepare_inputs(trigger_id, dict(inputs), {})
    ctx = runner.context(trigger_id)
    ctx.extra[_STATE] = dict(state) if state is not None else None
    ctx.extra[_REPLAY] = replay
    output = await resolve_handler(action.handler)(ctx, prepared)
    return _result(action, output)
