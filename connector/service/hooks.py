"""`POST /v1/hooks/{hook_id}`: where webhook deliveries arrive. Not behind the API key: the
caller (Bitly) holds only the URL, whose unguessable secret authenticates it. One run per
event: a delivery retried with the same event id (Bitly tries five times) is answered with
the run the first one started."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import Response

from connector.service.body_limit import require_json
from connector.service.models import Problem
from connector.service.responses import RedactedJSONResponse
from connector.service.trigger_models import HookAnswer
from connector.service.trigger_runtime import TriggerProblem
from connector.service.triggers_api import Runtime, problem

__all__ = ["router"]

router = APIRouter(tags=["triggers"], dependencies=[Depends(require_json)])


@router.post(
    "/hooks/{hook_id}",
    status_code=202,
    response_model=HookAnswer,
    responses={
        200: {"model": HookAnswer, "description": "Delivered before: its run's id"},
        404: {"model": Problem, "description": "No enabled hook has this URL"},
        422: {"model": Problem, "description": "The delivery is malformed"},
    },
)
async def deliver(
    triggers: Runtime,
    hook_id: Annotated[
        str, Path(max_length=200, description="`hk_<id>.<secret>`, as enable gave it")
    ],
    payload: Annotated[Any, Body()] = None,
) -> Response:
    """A delivery: its event recorded once, its run started (202 with the run id)."""
    try:
        done = await triggers.deliver(hook_id, payload)
    except TriggerProblem as exc:
        raise problem(exc) from None
    answer = HookAnswer(run_id=done.run_id, duplicate=done.duplicate, event_key=done.event_key)
    return RedactedJSONResponse(answer.model_dump(), status_code=200 if done.duplicate else 202)
