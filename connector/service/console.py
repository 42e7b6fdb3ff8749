"""The web console: sign in with an API key, runs by status, a run's page with its Retry
button. Server-rendered (Jinja2, autoescaped), no JavaScript: a running run's page reloads
itself. Every form that changes state carries the session's CSRF token, and the session
cookie is HttpOnly and SameSite=Strict."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from connector.service.auth import SESSION_COOKIE
from connector.service.console_pages import (
    csrf_ok,
    expired,
    page,
    posted_by_session,
    read_form,
    signed_in,
)
from connector.service.models import RunStatus
from connector.service.problems import ServiceProblem
from connector.service.run_views import LoopPage, run_page, run_view
from connector.service.runs_api import cancel_run, start_retry
from connector.service.state import service
from connector.service.trigger_views import chunks, trigger_text

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

#: loop items on a run's page (a loop of any size is paged: previous and next links)
ITEMS_PER_PAGE = 100

_STATUSES = ("running", "succeeded", "failed", "interrupted", "cancelled")


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, status: str | None = None, cursor: str | None = None) -> Response:
    session = signed_in(request)
    if session is None:
        return page("signin.html", error=None)
    state = service(request)
    chosen: RunStatus | None = status if status in _STATUSES else None  # type: ignore[assignment]
    with state.runlog() as log:
        runs, next_cursor = run_page(log, status=chosen, limit=50, cursor=cursor)
    return page(
        "runs.html",
        runs=runs,
        status=chosen,
        statuses=_STATUSES,
        next_cursor=next_cursor,
        csrf=session.csrf,
    )


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    signed = service(request).auth.sign_in(form.get("api_key", ""))
    if signed is None:
        return page("signin.html", code=401, error="That API key is not valid.")
    sid, _ = signed
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    session = signed_in(request)
    form = await read_form(request)
    if session is not None and csrf_ok(session, form):
        service(request).auth.sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page_html(
    request: Request,
    run_id: str,
    notice: str | None = None,
    step: str | None = None,
    cursor: str | None = None,
    status: str | None = None,
) -> Response:
    """A run's page: each loop's first page of items, or for loop `step` the page at
    `cursor` (its previous and next links), only its items with `status` if given."""
    session = signed_in(request)
    if session is None:
        return RedirectResponse("/", status_code=303)
    state = service(request)
    try:
        with state.runlog() as log:
            paged = LoopPage(step, cursor, status or None) if step is not None else None
            run = run_view(
                log,
                run_id,
                items_limit=ITEMS_PER_PAGE,
                paged=paged,
                running=state.loop_counts,
                triggers=state.triggers,
            )
    except ServiceProblem as problem:
        return page("error.html", code=problem.status, message=problem.detail)
    only = (paged.step_id, paged.status) if paged is not None and paged.status else None
    return page("run.html", run=run, csrf=session.csrf, notice=notice, filtered=only)


@router.get("/runs/{run_id}/trigger")
def trigger_json(request: Request, run_id: str) -> Response:
    """A run's trigger payload, whole (the run's page shows a big one's shape only)."""
    if signed_in(request) is None:
        return RedirectResponse("/", status_code=303)
    state = service(request)
    try:
        with state.runlog() as log:
            text = trigger_text(log, run_id)
    except ServiceProblem as problem:
        return page("error.html", code=problem.status, message=problem.detail)
    disposition = {"Content-Disposition": f'attachment; filename="trigger-{quote(run_id)}.json"'}
    return StreamingResponse(chunks(text), media_type="application/json", headers=disposition)


@router.post("/runs/{run_id}/retry")
async def retry_html(request: Request, run_id: str) -> Response:
    if not await posted_by_session(request):
        return expired()
    try:
        child = await start_retry(service(request), run_id)
    except ServiceProblem as problem:
        existing = problem.extra.get("run_id")
        if existing:
            note = quote(f"Already retried: this is run {run_id}'s retry.")
            return RedirectResponse(f"/runs/{quote(existing)}?notice={note}", status_code=303)
        return page("error.html", code=problem.status, message=problem.detail)
    return RedirectResponse(f"/runs/{quote(child)}", status_code=303)


@router.post("/runs/{run_id}/cancel")
async def cancel_html(request: Request, run_id: str) -> Response:
    if not await posted_by_session(request):
        return expired()
    try:
        cancel_run(service(request), run_id)
    except ServiceProblem as problem:
        return page("error.html", code=problem.status, message=problem.detail)
    note = quote("Cancelling: the items in flight finish, nothing new starts.")
    return RedirectResponse(f"/runs/{quote(run_id)}?notice={note}", status_code=303)
