"""The console's catalog: every app's actions, and each action's form drawn from the export.
No JavaScript: "Load options" (a dynamic input's choices), "Preview" and "Test" post the form
back (with the session's CSRF token) and the page comes back with the answer, through the
same functions the API's options, preview and test endpoints run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from connector.service.catalog_api import run_test
from connector.service.console_forms import form_fields, form_inputs
from connector.service.console_pages import expired, page, posted_form, signed_in
from connector.service.models import OptionsRequest, TestRequest
from connector.service.options_api import options_page
from connector.service.problems import ServiceProblem
from connector.service.state import ServiceState, service

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/catalog", response_class=HTMLResponse)
async def catalog_page(request: Request) -> Response:
    session = signed_in(request)
    if session is None:
        return RedirectResponse("/", status_code=303)
    export = service(request).export
    return page("catalog.html", apps=export["apps"], csrf=session.csrf)


def _action_page(
    state: ServiceState, action: dict[str, Any], csrf: str, form: dict[str, str], **shown: Any
) -> Response:
    return page(
        "action.html",
        action=action,
        fields=form_fields(action),
        values={k[3:]: v for k, v in form.items() if k.startswith("in.")},
        connection=form.get("connection", ""),
        connections=[c.name for c in state.connections.records() if c.app == action["app"]],
        csrf=csrf,
        **shown,
    )


@router.get("/catalog/{action_id}", response_class=HTMLResponse)
async def action_form(request: Request, action_id: str) -> Response:
    session = signed_in(request)
    if session is None:
        return RedirectResponse("/", status_code=303)
    state = service(request)
    action = state.actions.get(action_id)
    if action is None:
        return page("error.html", code=404, message=f"No action {action_id}.")
    return _action_page(state, action, session.csrf, {})


@router.post("/catalog/{action_id}", response_class=HTMLResponse)
async def action_post(request: Request, action_id: str) -> Response:
    session, form = await posted_form(request)
    if session is None:
        return expired()
    state = service(request)
    action = state.actions.get(action_id)
    if action is None:
        return page("error.html", code=404, message=f"No action {action_id}.")
    inputs = form_inputs(form_fields(action), form)
    connection = form.get("connection") or None
    op = form.get("op", "")
    shown: dict[str, Any] = {}
    try:
        if op == "preview":
            prepared, problems = state.catalog.resolve_inputs(action_id, inputs, {})
            errors = [{"field": e.field, "message": e.message} for e in problems]
            shown["preview"] = {"inputs": prepared, "errors": errors}
        elif op == "test":
            test = TestRequest.model_validate({"inputs": inputs, "connection": connection})
            shown["test"] = (await run_test(state, action_id, test)).model_dump()
        elif op.startswith("options:"):
            key = op.split(":", 1)[1]
            asked = OptionsRequest.model_validate({"inputs": inputs, "connection": connection})
            loaded = await options_page(state, action_id, key, asked)
            shown["options"] = {key: [o.model_dump() for o in loaded.options]}
    except ServiceProblem as problem:
        shown["problem"] = problem.detail
    except ValidationError as exc:
        shown["problem"] = f"invalid form: {exc.errors()[0].get('msg', 'invalid')}"
    return _action_page(state, action, session.csrf, form, **shown)
