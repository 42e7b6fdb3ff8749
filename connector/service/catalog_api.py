"""`/v1/catalog`, `/v1/actions/{id}`, and an action's preview and test."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from connector.api import run_action
from connector.engine.attempts import error_dict
from connector.errors import ConnectorError, FieldError
from connector.service.connections_api import credentials_for
from connector.service.models import (
    ActionDocument,
    CatalogDocument,
    PreviewRequest,
    PreviewResult,
    ProblemField,
    TestRequest,
    TestResult,
)
from connector.service.problems import ServiceProblem
from connector.service.state import ServiceState, State

__all__ = ["router", "run_test"]

router = APIRouter(tags=["catalog"])


def _action(state: ServiceState, action_id: str) -> dict[str, Any]:
    document = state.actions.get(action_id)
    if document is None:
        raise ServiceProblem(404, f"no action {action_id!r}; GET /v1/catalog lists them")
    return document


def _fields(problems: list[FieldError]) -> list[ProblemField]:
    return [ProblemField(field=f"inputs.{p.field}", message=p.message) for p in problems]


@router.get("/catalog", response_model=CatalogDocument)
async def get_catalog(state: State) -> dict[str, Any]:
    """The builder export: every app and action, forms, mapped-input schemas, outputs."""
    return state.export


@router.get("/actions/{action_id}", response_model=ActionDocument)
async def get_action(action_id: str, state: State) -> dict[str, Any]:
    return _action(state, action_id)


@router.post("/actions/{action_id}/preview", response_model=PreviewResult)
async def preview(action_id: str, body: PreviewRequest, state: State) -> PreviewResult:
    """The inputs as a run would send them (templates rendered against `context`, coerced,
    defaults applied) and every field's problem; nothing is sent to the API."""
    _action(state, action_id)
    prepared, problems = state.catalog.resolve_inputs(action_id, body.inputs, body.context)
    return PreviewResult(ok=not problems, inputs=prepared, errors=_fields(problems))


@router.post("/actions/{action_id}/test", response_model=TestResult)
async def test_step(action_id: str, body: TestRequest, state: State) -> TestResult:
    """Run the action once; its output, or its error as the run log shows it, is kept as the
    action's sample data (for `workflow_id`, when given)."""
    return await run_test(state, action_id, body)


async def run_test(state: ServiceState, action_id: str, body: TestRequest) -> TestResult:
    """A test step (the API's and the console's)."""
    _action(state, action_id)
    _, problems = state.catalog.resolve_inputs(action_id, body.inputs, body.context)
    if problems:
        first = problems[0]
        raise ServiceProblem(
            422,
            f"input '{first.field}': {first.message}",
            errors=[FieldError(f.field, f.message) for f in _fields(problems)],
        )
    credentials, _ = credentials_for(state, body.connection)
    try:
        output = await run_action(
            action_id,
            body.inputs,
            body.context,
            catalog=state.catalog,
            base_urls=state.config.base_urls,
            credentials=credentials,
        )
    except ConnectorError as exc:
        error = error_dict(exc)
        state.store.save_sample(action_id, body.workflow_id, False, {"error": error})
        return TestResult(ok=False, output=None, error=error, sample_saved=True)
    state.store.save_sample(action_id, body.workflow_id, True, {"output": output})
    # read back: the stored sample is what was masked on its way in
    saved = state.store.sample(action_id, body.workflow_id)
    return TestResult(
        ok=True, error=None, output=saved["result"]["output"] if saved else None, sample_saved=True
    )
