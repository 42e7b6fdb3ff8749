"""The console's Triggers page: every workflow's trigger, enabled first, with what it waits
for (an interval, a schedule, a hook), when it runs next, its events and its last error.
A hook's secret is never kept, so never shown."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from connector.service.console_pages import page, signed_in
from connector.service.trigger_models import trigger_view
from connector.service.triggers_api import runtime

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/triggers", response_class=HTMLResponse)
async def triggers_page(request: Request) -> Response:
    session = signed_in(request)
    if session is None:
        return RedirectResponse("/", status_code=303)
    views = [trigger_view(row, counts) for row, counts in runtime(request).triggers()]
    views.sort(key=lambda v: (not v.enabled, v.workflow_id))
    return page("triggers.html", triggers=views, csrf=session.csrf)
