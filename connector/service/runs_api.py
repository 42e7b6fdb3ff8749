"""`/v1/runs`: start a run (in the background), list and read runs, one-click retry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from connector.clock import SystemClock
from connector.engine.executor import Engine, RunResult
from connector.engine.retry_run import retry_run
from connector.engine.run_cancel import RunNotRunning, request_cancel
from connector.engine.workflow import WorkflowInvalid, resolve_trigger, validate_workflow
from connector.errors import AlreadyRetried, FieldError, InvalidConfiguration, InvalidInput
from connector.service.connections_api import credentials_for
from connector.service.item_pages import item_page, loop_counts
from connector.service.models import (
    ItemPage,
    Problem,
    RetryRequest,
    RunCancelling,
    RunList,
    RunStarted,
    RunStatus,
    RunView,
    StartRun,
)
from connector.service.problems import ServiceProblem
from connector.service.run_lookup import get_run
from connector.service.run_views import run_page, run_view
from connector.service.state import ServiceState, State
from connector.service.trigger_views import chunks, trigger_text

__all__ = ["cancel_run", "router", "start_retry"]

router = APIRouter(tags=["runs"])

#: the most items one page holds
MAX_ITEMS = 1000

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "already retried, or not retryable"}
}


def _workflow_document(
    state: ServiceState, body: StartRun
) -> tuple[dict[str, Any], str | None, int | None]:
    """The workflow to run, and the saved workflow's id and version it is (None: inline)."""
    if (body.workflow is None) == (body.workflow_id is None):
        raise ServiceProblem(
            422,
            "give exactly one of `workflow` (inline) and `workflow_id` (saved)",
            errors=[FieldError("body.workflow", "exactly one of workflow, workflow_id")],
        )
    if body.workflow is not None:
        return body.workflow, None, None
    assert body.workflow_id is not None
    saved = state.store.workflow(body.workflow_id, body.version)
    if saved is None:
        version = f" version {body.version}" if body.version else ""
        raise ServiceProblem(404, f"no saved workflow {body.workflow_id!r}{version}")
    document: dict[str, Any] = saved["workflow"]
    return document, body.workflow_id, int(saved["version"])


def checked_workflow(state: ServiceState, document: dict[str, Any], where: str) -> Any:
    """The workflow validated as the CLI validates a file; problems name `where`'s fields."""
    try:
        return validate_workflow(document, state.catalog)
    except WorkflowInvalid as exc:
        errors = [FieldError(f"{where}.{e.field}", e.message) for e in exc.errors]
        raise ServiceProblem(422, f"invalid workflow: {errors[0]}", errors=errors) from None


@router.post(
    "/runs", status_code=202, response_model=RunStarted, responses={404: {"model": Problem}}
)
async def start_run(body: StartRun, state: State) -> RunStarted:
    """Start a run of an inline or saved workflow; it runs in the background, with the
    named connection(s) or the apps' environment credentials."""
    document, workflow_id, version = _workflow_document(state, body)
    workflow = checked_workflow(state, document, "body.workflow")
    try:
        trigger = resolve_trigger(workflow, body.trigger)
    except InvalidInput as exc:
        raise ServiceProblem(422, str(exc), errors=[FieldError("body.trigger", str(exc))]) from None
    credentials, names = credentials_for(state, body.connection)

    async def job(engine: Engine) -> RunResult:
        return await engine.run(workflow, trigger)

    run_id = await state.launcher.start(job, credentials)
    state.store.save_origin(run_id, workflow_id, version, names)
    return RunStarted(run_id=run_id)


@router.get("/runs", response_model=RunList)
# Reads are plain functions: FastAPI runs them on its thread pool, so a page being read from
# the run log never holds up the event loop the background runs and the other requests share.
def list_runs(
    state: State,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    workflow: Annotated[str | None, Query(max_length=200, description="its name")] = None,
    parent_run_id: Annotated[
        str | None, Query(max_length=64, description="only the retry of this run")
    ] = None,
) -> RunList:
    """Runs, newest first, filtered by status, workflow name or parent run; pass
    `next_cursor` back as `cursor` for the next page."""
    with state.runlog() as log:
        runs, next_cursor = run_page(
            log,
            status=status,
            limit=limit,
            cursor=cursor,
            workflow=workflow,
            parent_run_id=parent_run_id,
        )
    return RunList(runs=runs, next_cursor=next_cursor)


@router.get("/runs/{run_id}", response_model=RunView, responses={404: {"model": Problem}})
def get_run_view(
    run_id: str,
    state: State,
    items_limit: Annotated[
        int, Query(ge=1, le=MAX_ITEMS, description="items per loop page, and inlined in output")
    ] = 100,
) -> RunView:
    """A run: status, steps with their attempts and errors, each loop's counts and first
    page of items with the URL of the rest (`items_url`). A loop's items in the output are
    inlined up to `items_limit`; past that they are null there and listed in `output_items`,
    so a run of any size answers in the memory of a page."""
    with state.runlog() as log:
        return run_view(
            log,
            run_id,
            items_limit=items_limit,
            running=state.loop_counts,
            triggers=state.triggers,
        )


@router.get(
    "/runs/{run_id}/trigger",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/json": {"schema": {}}}, "description": "the payload"},
        404: {"model": Problem},
    },
)
def get_trigger(run_id: str, state: State) -> StreamingResponse:
    """A run's trigger payload alone, whole, as the run log holds it (credentials masked):
    what a run's view describes by `trigger_summary` when it is too big to return there."""
    with state.runlog() as log:
        text = trigger_text(log, run_id)
    return StreamingResponse(chunks(text), media_type="application/json")


@router.get(
    "/runs/{run_id}/steps/{step_id}/items",
    response_model=ItemPage,
    responses={404: {"model": Problem}},
)
def get_items(
    run_id: str,
    step_id: str,
    state: State,
    status: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=200, description="a page's `next_cursor` or `prev_cursor`")
    ] = None,
) -> ItemPage:
    """A loop's items in index order, a page at a time (a loop of any size: each page is
    read on its own), optionally only those with `status`; `next_cursor` and `prev_cursor`
    page on and back."""
    with state.runlog() as log:
        get_run(log, run_id, trigger=False)
        steps = log.steps(run_id, outputs=False)
        step = next((s for s in steps if s.step_id == step_id and s.kind == "loop"), None)
        if step is None:
            raise ServiceProblem(404, f"run {run_id} has no loop step {step_id!r}")
        counts = loop_counts(log, step, state.loop_counts)
        return item_page(
            log, run_id, step_id, limit=limit, cursor=cursor, status=status, counts=counts
        )


async def start_retry(
    state: ServiceState,
    run_id: str,
    resolve: dict[str, str] | None = None,
    *,
    version: str = "original",
    items: list[str] | None = None,
    connection: str | list[str] | None = None,
) -> str:
    """Start the one retry of `run_id` (engine.retry_run, as `connector runs retry`); its
    child run's id. The run log's claim makes it one child per run, across processes: a
    second retry is refused with the child's id (409), as is one of a run that succeeded or
    is still running. `version="current"` runs the saved workflow's latest version; `items`
    re-runs only those loop items; the run's own connections are used unless others are
    named."""
    with state.runlog() as log:
        get_run(log, run_id, trigger=False)  # 404 before an engine is built
    workflow_id, _, names = state.store.origin(run_id)
    workflow = None
    saved_version = None
    if version == "current":
        if workflow_id is None:
            raise ServiceProblem(
                409,
                f"run {run_id} did not run a saved workflow: there is no current version to "
                'retry it with; retry the "original"',
                errors=[FieldError("body.version", "the run's workflow was not saved")],
            )
        saved = state.store.workflow(workflow_id)
        assert saved is not None  # versions are never deleted
        workflow = checked_workflow(state, saved["workflow"], "workflow")
        saved_version = int(saved["version"])
    credentials, names = credentials_for(state, connection if connection else names)

    async def job(engine: Engine) -> RunResult:
        return await retry_run(engine, run_id, resolve=resolve, items=items, workflow=workflow)

    try:
        child = await state.launcher.start(job, credentials)
    except AlreadyRetried as exc:
        raise ServiceProblem(
            409,
            f"run {run_id} was already retried as run {exc.child_run_id}",
            extra={"run_id": exc.child_run_id},
        ) from None
    except InvalidInput as exc:  # a `resolve` naming no open write, an item not to retry
        field = "body.items" if exc.where == "items" else "body.resolve"
        raise ServiceProblem(422, str(exc), errors=[FieldError(field, str(exc))]) from None
    except InvalidConfiguration as exc:  # succeeded, or still running
        raise ServiceProblem(409, str(exc)) from None
    state.store.save_origin(child, workflow_id, saved_version, names)
    return child


@router.post(
    "/runs/{run_id}/retry",
    status_code=202,
    response_model=RunStarted,
    responses={404: {"model": Problem}, **_CONFLICT},
)
async def retry(run_id: str, state: State, body: RetryRequest | None = None) -> RunStarted:
    """Retry a failed, cancelled or interrupted run: a child run that reuses what succeeded
    and re-runs only the rest (or only `items`). A run is retried once: a second retry
    answers 409 naming the child. A write whose outcome is unknown is checked, never resent
    blindly; `resolve` settles one."""
    body = body or RetryRequest.model_validate({})
    child = await start_retry(
        state,
        run_id,
        dict(body.resolve) or None,
        version=body.version,
        items=body.items,
        connection=body.connection,
    )
    return RunStarted(run_id=child)


@router.post(
    "/runs/{run_id}/cancel",
    status_code=202,
    response_model=RunCancelling,
    responses={404: {"model": Problem}, 409: {"model": Problem, "description": "not running"}},
)
async def cancel(run_id: str, state: State) -> RunCancelling:
    """Stop a running run between items, whichever process runs it (this service, a
    `connector run`, Temporal workers sharing the run log): what is in flight finishes and
    is recorded (no write is orphaned), nothing new starts, and the run ends `cancelled`
    (retryable)."""
    cancel_run(state, run_id)
    return RunCancelling(run_id=run_id, status="cancelling")


def cancel_run(state: ServiceState, run_id: str) -> None:
    """Ask the run to stop (the API's cancel and the console's), wherever it runs: the
    request is recorded in the run log, which the process running it reads between items
    (this service, a `connector run`, Temporal workers: engine/run_cancel.py); a problem
    if the run is unknown (404) or not running (409)."""
    clock = state.config.clock or SystemClock()
    with state.runlog() as log:
        try:
            request_cancel(log, run_id, at=clock.wall())
        except RunNotRunning as exc:
            raise ServiceProblem(409, str(exc)) from None
        except InvalidInput:
            raise ServiceProblem(404, f"no run with id {run_id!r}") from None
    # Run here: it stops at its next item, without waiting to read the request.
    state.launcher.cancel(run_id)
