"""`/v1/workflows`: save a workflow (validated as `connector run` validates a file) and keep
every version; runs name a saved workflow by id (and version)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from connector.service.models import (
    MAX_VERSION,
    Problem,
    WorkflowSave,
    WorkflowSaved,
    WorkflowVersion,
)
from connector.service.problems import ServiceProblem
from connector.service.runs_api import checked_workflow
from connector.service.state import ServiceState, State

__all__ = ["router"]

router = APIRouter(tags=["workflows"])


@router.post("/workflows", status_code=201, response_model=WorkflowSaved)
async def create_workflow(body: WorkflowSave, state: State) -> WorkflowSaved:
    checked_workflow(state, body.workflow, "body.workflow")
    workflow_id = state.store.new_workflow_id()
    version = state.store.save_workflow(workflow_id, body.workflow)
    return WorkflowSaved(
        workflow_id=workflow_id, version=version, name=str(body.workflow.get("name", ""))
    )


@router.get("/workflows", response_model=list[WorkflowSaved])
async def list_workflows(state: State) -> list[dict[str, Any]]:
    return state.store.workflows()


def _saved(state: ServiceState, workflow_id: str, version: int | None) -> dict[str, Any]:
    saved = state.store.workflow(workflow_id, version)
    if saved is None:
        what = f" version {version}" if version else ""
        raise ServiceProblem(404, f"no saved workflow {workflow_id!r}{what}")
    return saved


@router.get(
    "/workflows/{workflow_id}",
    response_model=WorkflowVersion,
    responses={404: {"model": Problem}},
)
async def get_workflow(
    workflow_id: str,
    state: State,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> dict[str, Any]:
    """The latest version, or `version`."""
    return _saved(state, workflow_id, version)


@router.put(
    "/workflows/{workflow_id}",
    response_model=WorkflowSaved,
    responses={404: {"model": Problem}},
)
async def save_version(workflow_id: str, body: WorkflowSave, state: State) -> WorkflowSaved:
    """Save a new version; earlier versions stay readable (and their runs retryable)."""
    _saved(state, workflow_id, None)
    checked_workflow(state, body.workflow, "body.workflow")
    version = state.store.save_workflow(workflow_id, body.workflow)
    return WorkflowSaved(
        workflow_id=workflow_id, version=version, name=str(body.workflow.get("name", ""))
    )
