"""What every console page shares: rendering (Jinja2, autoescaped, every value masked, a
strict CSP), the signed-in session, and forms with their CSRF token."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from connector.redact import redact_obj
from connector.service.auth import SESSION_COOKIE, Session
from connector.service.state import service

__all__ = [
    "csrf_ok",
    "expired",
    "page",
    "posted_by_session",
    "posted_form",
    "read_form",
    "signed_in",
]

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
)
#: fields a console form may carry (an action's inputs and a few controls)
MAX_FIELDS = 200


def page(name: str, code: int = 200, **values: Any) -> HTMLResponse:
    html = _ENV.get_template(name).render(**redact_obj(values))
    return HTMLResponse(
        html,
        status_code=code,
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'",
            "Cache-Control": "no-store",
        },
    )


def signed_in(request: Request) -> Session | None:
    session: Session | None = service(request).auth.session(request.cookies.get(SESSION_COOKIE))
    return session


async def read_form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, max_num_fields=MAX_FIELDS).items()}


def csrf_ok(session: Session, form: dict[str, str]) -> bool:
    return hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode())


async def posted_form(request: Request) -> tuple[Session | None, dict[str, str]]:
    """A state-changing form post: the signed-in session that sent it with its CSRF token
    (None: refused), and the form."""
    session = signed_in(request)
    form = await read_form(request)
    return (session if session is not None and csrf_ok(session, form) else None), form


async def posted_by_session(request: Request) -> bool:
    """A state-changing form post from a signed-in session, carrying its CSRF token."""
    return (await posted_form(request))[0] is not None


def expired() -> HTMLResponse:
    """The answer to a post without its session's CSRF token."""
    return page("error.html", code=403, message="The form expired; reload the page.")
