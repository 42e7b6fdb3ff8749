"""The Python interface in a few calls (the CLI is built on the same ones).

    catalog = load_catalog()
    catalog.get("bitly.get_link_click_metrics")          # describe an action
    catalog.prepare_inputs(action_id, raw, context)      # validate inputs without running
    output = await run_action(action_id, raw, context)   # one action, output or typed error
    page = await load_options(action_id, input_key, inputs)  # an input's dynamic options
    result = await poll_trigger(trigger_id, inputs, state)   # a trigger's new events
    sub = await subscribe_webhook(trigger_id, inputs, url)   # a webhook trigger, enabled
    event = await parse_delivery(trigger_id, payload)        # one delivery, as an event
    await unsubscribe_webhook(trigger_id, inputs, sub)       # and disabled

Workflows: `load_workflow(path, catalog)`, then `engine_session(...)` and `engine.run(...)`;
`retry_run(engine, run_id)` is the one-click retry. A run's loop items are read from the run
log a page at a time:

    page = run_items(run_id, "each", limit=100)          # .items, .next_cursor
    page = run_items(run_id, "each", cursor=page.next_cursor)

A running run is stopped, from any process, by `cancel_run(run_id)`: it ends `cancelled`
after the items in flight, retryable like a failed run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.catalog import Catalog, load_catalog
from connector.credentials import register_credentials
from connector.runner import ActionRunner

if TYPE_CHECKING:
    from connector.catalog.options import OptionsPage
    from connector.engine.run_cancel import CancelRequest
    from connector.engine.runlog import ItemPage
    from connector.triggers import PollResult

__all__ = [
    "cancel_run",
    "load_options",
    "parse_delivery",
    "poll_trigger",
    "run_action",
    "run_items",
    "subscribe_webhook",
    "unsubscribe_webhook",
]


async def run_action(
    action_id: str,
    inputs: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
    *,
    catalog: Catalog | None = None,
    base_urls: dict[str, str] | None = None,
    credentials: dict[str, str] | None = None,
) -> Any:
    """Resolve `inputs` against `context`, run the action once, return its output.

    Raises InvalidInput (bad or unknown input, template error), MissingCredential, or an
    ActionError subclass saying whether a retry could help. Credentials default to the app's
    environment variable, base URLs to the manifest's (or their env overrides).
    """
    catalog = catalog or load_catalog()
    catalog.get(action_id)  # an unknown id fails before anything is prepared
    # Masked before the inputs are checked: an error quoting an input may quote a token.
    register_credentials(catalog, credentials, os.environ)
    prepared = catalog.prepare_inputs(action_id, dict(inputs), dict(context or {}))
    async with ActionRunner(catalog, base_urls=base_urls, credentials=credentials) as runner:
        return await runner.run(action_id, prepared)


@asynccontextmanager
async def _runner(
    catalog: Catalog, base_urls: dict[str, str] | None, credentials: dict[str, str] | None
) -> AsyncIterator[ActionRunner]:
    """A runner under each app's shared rate budget, as the engine's (engine.session)."""
    from connector.engine.session import build_budgets
    from connector.engine.shared_budget import hold_budgets

    register_credentials(catalog, credentials, os.environ)
    budgets = build_budgets(catalog, credentials=credentials)
    async with (
        hold_budgets(budgets),
        ActionRunner(
            catalog, base_urls=base_urls, credentials=credentials, budgets=dict(budgets)
        ) as runner,
    ):
        yield runner


async def load_options(
    action_id: str,
    input_key: str,
    inputs: Mapping[str, Any] | None = None,
    *,
    search: str | None = None,
    cursor: str | None = None,
    catalog: Catalog | None = None,
    base_urls: dict[str, str] | None = None,
    credentials: dict[str, str] | None = None,
) -> OptionsPage:
    """The dynamic options of `action_id`'s input `input_key` (its `options_from`): a page of
    {label, value} and the cursor of the next page (None at the end).

    `inputs` are the form's values so far (those the options depend on). The options action
    runs under the app's shared rate budget and error translation; its failure is raised
    (ActionError with the API's message), never turned into an empty list.
    """
    from connector.catalog.options import load_options as load

    catalog = catalog or load_catalog()
    async with _runner(catalog, base_urls, credentials) as runner:
        return await load(
            catalog, runner, action_id, input_key, inputs, search=search, cursor=cursor
        )


async def poll_trigger(
    trigger_id: str,
    inputs: Mapping[str, Any],
    state: Mapping[str, Any] | None = None,
    *,
    replay: bool = False,
    catalog: Catalog | None = None,
    base_urls: dict[str, str] | None = None,
    credentials: dict[str, str] | None = None,
) -> PollResult:
    """Poll a trigger once from the state its previous poll returned (None: a first poll,
    which returns no event unless `replay`): the new events, oldest first, and the next
    state. A failed poll raises, and the caller keeps its old state."""
    from connector.triggers import poll_trigger as poll

    catalog = catalog or load_catalog()
    async with _runner(catalog, base_urls, credentials) as runner:
        return await poll(runner, trigger_id, inputs, state, replay=replay)


def cancel_run(run_id: str, *, runlog: Path | str | None = None) -> CancelRequest:
    """Ask run `run_id` to stop, whichever process runs it (an embedded run, the service,
    Temporal workers): the request is recorded in the run log (`runlog` as for
    `run_items`), read by that process between items; what is in flight finishes and is
    recorded, and the run ends `cancelled`. Raises InvalidInput for an unknown run or a
    run-log file that does not exist, RunNotRunning (naming its status) for a run that is
    not running."""
    from connector.clock import SystemClock
    from connector.engine.run_cancel import request_cancel
    from connector.engine.runlog import RunLog
    from connector.errors import InvalidInput

    target = _runlog_target(runlog)
    if isinstance(target, Path) and not target.exists():
        # Not created just to say that it holds no such run.
        raise InvalidInput(f"no run log at {target}; no run {run_id!r} to cancel", where="RUN")
    with RunLog(target) as log:
        return request_cancel(log, run_id, at=SystemClock().wall())


def _runlog_target(runlog: Path | str | None) -> Path | str:
    """`runlog`, else $CONNECTOR_RUNLOG, else the home's runs.db: a URL or a path."""
    from connector.engine.runlog import DB_NAME, default_home
    from connector.engine.runlog_store import is_url

    target = runlog or os.environ.get("CONNECTOR_RUNLOG") or default_home() / DB_NAME
    return target if is_url(target) else Path(target)


def run_items(
    run_id: str,
    step_id: str,
    *,
    cursor: int | None = None,
    limit: int = 100,
    status: str | None = None,
    runlog: Path | str | None = None,
) -> ItemPage:
    """One page of loop step `step_id`'s items in run `run_id`, in index order: at most
    `limit` (1..10,000) `ItemRecord`s after `cursor` (the previous page's `next_cursor`;
    None for the first page), optionally only those with `status`. The page's
    `next_cursor` is None after the last item. Only that page is read, however many items
    the loop had.

    `runlog` is a SQLite file or a `postgresql://` URL (default: $CONNECTOR_RUNLOG, else
    the home's runs.db); it is opened read-only. Raises InvalidInput for a bad cursor or
    limit, InvalidConfiguration for an unknown run.
    """
    from connector.engine.runlog import RunLog

    with RunLog(_runlog_target(runlog), readonly=True) as log:
        log.get_run(run_id, trigger_json=True)  # an unknown run is an error, not an empty page
        return log.item_page(run_id, step_id, cursor=cursor, limit=limit, status=status)


async def subscribe_webhook(
    trigger_id: str,
    inputs: Mapping[str, Any],
    url: str,
    *,
    catalog: Catalog | None = None,
    base_urls: dict[str, str] | None = None,
    credentials: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Register `url` for a webhook trigger's events at the API (Bitly: POST /v4/webhooks);
    returns the subscription `unsubscribe_webhook` takes."""
    from connector.triggers import subscribe

    catalog = catalog or load_catalog()
    async with _runner(catalog, base_urls, credentials) as runner:
        return await subscribe(runner, trigger_id, inputs, url)


async def unsubscribe_webhook(
    trigger_id: str,
    inputs: Mapping[str, Any],
    subscription: Mapping[str, Any],
    *,
    catalog: Catalog | None = None,
    base_urls: dict[str, str] | None = None,
    credentials: dict[str, str] | None = None,
) -> None:
    """Remove what `subscribe_webhook` registered (Bitly: DELETE /v4/webhooks/{guid})."""
    from connector.triggers import unsubscribe

    catalog = catalog or load_catalog()
    async with _runner(catalog, base_urls, credentials) as runner:
        await unsubscribe(runner, trigger_id, inputs, subscription)


async def parse_delivery(
    trigger_id: str,
    payload: Any,
    inputs: Mapping[str, Any] | None = None,
    *,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """One webhook delivery as the trigger's typed event; InvalidInput naming the field of a
    malformed one. De-duplicate on `connector.triggers.event_key(action, event)`."""
    from connector.triggers import parse_delivery as parse

    catalog = catalog or load_catalog()
    return await parse(catalog, trigger_id, inputs or {}, payload)
