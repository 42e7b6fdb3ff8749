"""The console's Triggers page: every workflow's trigger, enabled first, with what it waits
for (an interval, a schedule, a hook), when it runs next, its events and its last error;
saved workflows with a trigger never enabled; and an Enable or Disable button on each.

The buttons post forms (no JavaScript), CSRF-checked, through the same `TriggerRuntime`
calls as `POST /v1/workflows/{id}/enable|disable`. Enabling again keeps the connections
the trigger was enabled with. A webhook's URL, its secret included, is shown once, in the
answer to the post that made it (never in a redirect's URL, which browsers keep); a
refusal (a subscription Bitly refused, a workflow that cannot run) is shown on the page
with its status."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from connector.service.auth import Session
from connector.service.console_pages import expired, page, posted_form, signed_in
from connector.service.trigger_models import EnableRequest, TriggerView, trigger_view
from connector.service.trigger_runtime import TriggerProblem
from connector.service.triggers_api import runtime

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_KINDS = ("poll", "webhook", "schedule")


def _never_enabled(request: Request, known: set[str]) -> list[dict[str, Any]]:
    """Saved workflows whose latest version has a trigger to enable, never enabled."""
    store = runtime(request).store
    found = []
    for saved in store.workflows():
        if saved["workflow_id"] in known:
            continue
        latest = store.workflow(saved["workflow_id"])
        trigger = (latest or {}).get("workflow", {}).get("trigger")
        kind = next((k for k in _KINDS if isinstance(trigger, dict) and k in trigger), None)
        if kind is not None:
            found.append(saved | {"kind": kind})
    return found


def _page(
    request: Request,
    session: Session,
    *,
    code: int = 200,
    notice: str | None = None,
    error: str | None = None,
    hook_url: str | None = None,
) -> Response:
    views: list[TriggerView] = [
        trigger_view(row, counts) for row, counts in runtime(request).triggers()
    ]
    views.sort(key=lambda v: (not v.enabled, v.workflow_id))
    return page(
        "triggers.html",
        code=code,
        triggers=views,
        saved=_never_enabled(request, {v.workflow_id for v in views}),
        csrf=session.csrf,
        notice=notice,
        error=error,
        hook_url=hook_url,
        public_url=str(request.base_url),
    )


@router.get("/triggers", response_class=HTMLResponse)
async def triggers_page(request: Request, notice: str | None = None) -> Response:
    session = signed_in(request)
    if session is None:
        return RedirectResponse("/", status_code=303)
    return _page(request, session, notice=notice)


def _done(notice: str) -> Response:
    return RedirectResponse(f"/triggers?notice={quote(notice)}", status_code=303)


@router.post("/triggers/{workflow_id}/enable")
async def enable_html(request: Request, workflow_id: str) -> Response:
    session, form = await posted_form(request)
    if session is None:
        return expired()
    triggers = runtime(request)
    found = triggers.trigger(workflow_id)
    try:  # the API's own checks on what the form carries
        body = EnableRequest(
            public_url=form.get("public_url") or str(request.base_url),
            connection=list(found[0].connections) if found else None,
        )
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        message = f"Could not enable {workflow_id}: {where}: {exc.errors()[0]['msg']}"
        return _page(request, session, code=422, error=message)
    try:
        done = await triggers.enable(
            workflow_id, version=None, public_url=str(body.public_url), connection=body.connection
        )
    except TriggerProblem as exc:
        message = f"Could not enable {workflow_id}: {exc.detail}"
        return _page(request, session, code=exc.status, error=message)
    enabled = f"Enabled {workflow_id} (version {done.row.version})."
    if done.hook_url is None:
        return _done(enabled)
    return _page(request, session, notice=enabled, hook_url=done.hook_url)


@router.post("/triggers/{workflow_id}/disable")
async def disable_html(request: Request, workflow_id: str) -> Response:
    session, _ = await posted_form(request)
    if session is None:
        return expired()
    try:
        await runtime(request).disable(workflow_id)
    except TriggerProblem as exc:
        message = f"Could not disable {workflow_id}: {exc.detail}"
        return _page(request, session, code=exc.status, error=message)
    return _done(f"Disabled {workflow_id}.")
