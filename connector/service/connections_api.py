"""`/v1/connections`: save a named credential for an app (tested first with the app's
`credential.test` call, then sealed), list and delete them. No endpoint ever returns a
credential; requests name the connection they use (`"connection": "name"`)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response

from connector.api import run_action
from connector.credentials import checked_credential
from connector.engine.attempts import error_dict
from connector.errors import (
    AuthenticationError,
    ConnectorError,
    FieldError,
    InvalidConfiguration,
    InvalidRequest,
    PermissionDenied,
)
from connector.service.connection_store import ConnectionRecord
from connector.service.models import ConnectionSave, ConnectionView, Problem
from connector.service.problems import ServiceProblem
from connector.service.secret_box import NO_KEY, SECRET_KEY_ENV, UndecryptableSecret
from connector.service.state import ServiceState, State

__all__ = ["credentials_for", "router"]

router = APIRouter(tags=["connections"])

_FIELD = "body.connection"


def _view(record: ConnectionRecord) -> ConnectionView:
    return ConnectionView(
        name=record.name, app=record.app, created_at=record.created_at, tested_at=record.tested_at
    )


def credentials_for(
    state: ServiceState, names: str | list[str] | None
) -> tuple[dict[str, str] | None, list[str]]:
    """The credentials a request runs with: the service's own, each app named by a
    connection replaced by that connection's; and the names, as given."""
    wanted = [names] if isinstance(names, str) else list(names or [])
    if not wanted:
        return state.config.credentials, []
    merged = dict(state.config.credentials or {})
    apps: dict[str, str] = {}
    for name in wanted:
        try:
            found = state.connections.credential(name)
        except UndecryptableSecret:
            why = (
                f"the service has no secret key ({SECRET_KEY_ENV}) to open connection {name!r}"
                if state.connections.box is None
                else f"connection {name!r} was saved under another secret key; delete it and "
                "save it again"
            )
            raise ServiceProblem(
                422, why, errors=[FieldError(_FIELD, "cannot be decrypted here")]
            ) from None
        if found is None:
            raise ServiceProblem(
                422,
                f"no connection {name!r}; GET /v1/connections lists them",
                errors=[FieldError(_FIELD, f"no connection {name!r}")],
            )
        app, credential = found
        if app in apps:
            raise ServiceProblem(
                422,
                f"connections {apps[app]!r} and {name!r} are both for {app}: name one per app",
                errors=[FieldError(_FIELD, f"two connections for {app}")],
            )
        apps[app] = name
        merged[app] = credential
    return merged, wanted


async def _test(state: ServiceState, app_key: str, credential: str) -> float | None:
    """Prove the credential with the app's test call; when it was proven (None: the app
    declares no test)."""
    test = state.catalog.apps[app_key].credential.test
    if test is None:
        return None
    credentials = {**(state.config.credentials or {}), app_key: credential}
    try:
        await run_action(
            f"{app_key}.{test.action}",
            dict(test.inputs),
            catalog=state.catalog,
            base_urls=state.config.base_urls,
            credentials=credentials,
        )
    except (AuthenticationError, PermissionDenied, InvalidRequest) as exc:
        raise ServiceProblem(
            422,
            f"{app_key} refused the credential: {exc.message}",
            errors=[FieldError("body.credential", "refused by the API")],
        ) from None
    except ConnectorError as exc:
        error = error_dict(exc)
        raise ServiceProblem(
            502,
            f"the credential could not be tested ({error.get('type')}: {error.get('message')}); "
            "nothing was saved, try again",
        ) from None
    return time.time()


@router.post(
    "/connections",
    status_code=201,
    response_model=ConnectionView,
    responses={
        409: {"model": Problem, "description": "the name is taken, or no secret key is set"},
        502: {"model": Problem, "description": "the app could not be reached to test it"},
    },
)
async def save_connection(body: ConnectionSave, state: State) -> ConnectionView:
    """Test the credential with a cheap authenticated call (Bitly: `GET /v4/user`), then
    store it encrypted. It is never returned by any endpoint."""
    if state.connections.box is None:
        raise ServiceProblem(409, NO_KEY)
    if body.app not in state.catalog.apps:
        known = ", ".join(sorted(state.catalog.apps))
        raise ServiceProblem(
            422,
            f"no app {body.app!r} (apps: {known})",
            errors=[FieldError("body.app", f"one of {known}")],
        )
    try:
        credential = checked_credential(body.credential.get_secret_value(), "body.credential")
    except InvalidConfiguration as exc:
        raise ServiceProblem(
            422, str(exc), errors=[FieldError("body.credential", exc.message)]
        ) from None
    if not credential:
        raise ServiceProblem(
            422, "the credential is blank", errors=[FieldError("body.credential", "blank")]
        )
    if state.connections.get(body.name) is not None:
        raise ServiceProblem(409, f"a connection named {body.name!r} exists; delete it first")
    tested_at = await _test(state, body.app, credential)
    if not state.connections.add(body.name, body.app, credential, tested_at):
        raise ServiceProblem(409, f"a connection named {body.name!r} exists; delete it first")
    record = state.connections.get(body.name)
    assert record is not None
    return _view(record)


@router.get("/connections", response_model=list[ConnectionView])
async def list_connections(state: State) -> list[ConnectionView]:
    return [_view(r) for r in state.connections.records()]


def _existing(state: ServiceState, name: str) -> ConnectionRecord:
    record = state.connections.get(name)
    if record is None:
        raise ServiceProblem(404, f"no connection {name!r}")
    return record


@router.get(
    "/connections/{name}", response_model=ConnectionView, responses={404: {"model": Problem}}
)
async def get_connection(name: str, state: State) -> ConnectionView:
    return _view(_existing(state, name))


@router.delete("/connections/{name}", status_code=204, responses={404: {"model": Problem}})
async def delete_connection(name: str, state: State) -> Response:
    """Forget the connection; runs that used it keep their records."""
    _existing(state, name)
    state.connections.delete(name)
    return Response(status_code=204)
