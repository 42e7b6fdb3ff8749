"""`/v1/workflows/{id}/enable|disable|trigger` and `/v1/triggers`: a saved workflow's trigger
switched on and off, and what the service keeps of it. The runtime is `trigger_runtime`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from connector.errors import FieldError
from connector.service.hook_secrets import mask_hook_secrets
from connector.service.models import Problem
from connector.service.problems import ServiceProblem
from connector.service.state import ServiceState
from connector.service.trigger_models import EnableRequest, TriggerView, trigger_view
from connector.service.trigger_runtime import TriggerProblem, TriggerRuntime

__all__ = ["install", "problem", "router", "runtime"]

router = APIRouter(tags=["triggers"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem},
    502: {"model": Problem, "description": "The API refused the subscription change"},
}


def install(app: FastAPI, state: ServiceState) -> TriggerRuntime:
    """The app's trigger runtime (`app.state.triggers`), on the service's run log."""
    triggers = TriggerRuntime(state)
    app.state.triggers = triggers
    mask_hook_secrets()
    return triggers


def runtime(request: Request) -> TriggerRuntime:
    found: TriggerRuntime = request.app.state.triggers
    return found


Runtime = Annotated[TriggerRuntime, Depends(runtime)]


def problem(exc: TriggerProblem) -> ServiceProblem:
    errors = [FieldError(exc.field, exc.detail)] if exc.field else None
    return ServiceProblem(exc.status, exc.detail, errors=errors)


@router.post("/workflows/{workflow_id}/enable", response_model=TriggerView, responses=_ERRORS)
async def enable(
    workflow_id: str, request: Request, triggers: Runtime, body: EnableRequest | None = None
) -> TriggerView:
    """Enable the workflow's trigger (poll, webhook or schedule, as its `trigger` says). A
    webhook trigger's answer holds its URL, secret included, this once; a Bitly Link
    Clicked trigger is subscribed at Bitly. Enabling again sets it up anew."""
    body = body or EnableRequest(connection=None)
    public = body.public_url or str(request.base_url)
    try:
        done = await triggers.enable(
            workflow_id, version=body.version, public_url=public, connection=body.connection
        )
    except TriggerProblem as exc:
        raise problem(exc) from None
    found = triggers.trigger(workflow_id)
    assert found is not None
    return trigger_view(found[0], found[1], done.hook_url)


@router.post("/workflows/{workflow_id}/disable", response_model=TriggerView, responses=_ERRORS)
async def disable(workflow_id: str, triggers: Runtime) -> TriggerView:
    """Stop polling or firing; a webhook's URL answers 404 and its Bitly webhook is
    deleted. A polling trigger's state is kept: enabled again, it resumes where it was."""
    try:
        row = await triggers.disable(workflow_id)
    except TriggerProblem as exc:
        raise problem(exc) from None
    found = triggers.trigger(workflow_id)
    return trigger_view(row, found[1] if found else {})


@router.get("/workflows/{workflow_id}/trigger", response_model=TriggerView, responses=_ERRORS)
async def get_trigger(workflow_id: str, triggers: Runtime) -> TriggerView:
    found = triggers.trigger(workflow_id)
    if found is None:
        raise ServiceProblem(404, f"workflow {workflow_id!r} was never enabled")
    return trigger_view(*found)


@router.get("/triggers", response_model=list[TriggerView])
async def list_triggers(triggers: Runtime, enabled: bool | None = None) -> list[TriggerView]:
    """Every workflow's trigger the service knows (`enabled=true`: only those running)."""
    return [
        trigger_view(row, counts)
        for row, counts in triggers.triggers()
        if enabled is None or row.enabled == enabled
    ]
