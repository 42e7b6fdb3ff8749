"""`POST /v1/actions/{action_id}/options/{input_key}`: an input's dynamic options, through
`connector.api.load_options` (what `connector catalog options` runs): the options action
under the app's shared rate budget and error translation. A failure to load is a problem,
never an empty list (which would read as "you have no groups")."""

from __future__ import annotations

from fastapi import APIRouter

from connector.api import load_options
from connector.catalog.options import options_source
from connector.engine.attempts import error_dict
from connector.errors import (
    ActionError,
    FieldError,
    InvalidConfiguration,
    InvalidCredential,
    InvalidInput,
    MissingCredential,
)
from connector.service.connections_api import credentials_for
from connector.service.models import OptionsRequest, OptionsResult, Problem
from connector.service.problems import ServiceProblem
from connector.service.state import ServiceState, State

__all__ = ["options_page", "router"]

router = APIRouter(tags=["catalog"])


@router.post(
    "/actions/{action_id}/options/{input_key}",
    response_model=OptionsResult,
    responses={
        404: {"model": Problem},
        502: {"model": Problem, "description": "the API failed to list them; `error` says how"},
    },
)
async def options(
    action_id: str, input_key: str, body: OptionsRequest, state: State
) -> OptionsResult:
    """A page of `{label, value}` for the input (its `options_from`), given the form's
    `inputs` so far, a `search` text and the `cursor` of a previous page."""
    return await options_page(state, action_id, input_key, body)


async def options_page(
    state: ServiceState, action_id: str, input_key: str, body: OptionsRequest
) -> OptionsResult:
    """A page of options (the API's and the console's), or a ServiceProblem."""
    if action_id not in state.actions:
        raise ServiceProblem(404, f"no action {action_id!r}; GET /v1/catalog lists them")
    try:
        _, source = options_source(state.catalog, action_id, input_key)
    except InvalidInput as exc:
        raise ServiceProblem(404, str(exc)) from None
    missing = [k for k in source.depends_on if body.inputs.get(k) in (None, "", [])]
    if missing:
        raise ServiceProblem(
            422,
            f"the options of '{input_key}' depend on {', '.join(missing)}: give them in inputs",
            errors=[FieldError(f"body.inputs.{k}", "required for these options") for k in missing],
        )
    if body.cursor and not body.cursor.isdigit():
        raise ServiceProblem(
            422,
            "cursor: not one this service handed out",
            errors=[FieldError("body.cursor", "not a cursor from a previous page")],
        )
    credentials, _ = credentials_for(state, body.connection)
    try:
        page = await load_options(
            action_id,
            input_key,
            body.inputs,
            search=body.search,
            cursor=body.cursor,
            catalog=state.catalog,
            base_urls=state.config.base_urls,
            credentials=credentials,
        )
    except ActionError as exc:
        error = error_dict(exc)
        raise ServiceProblem(
            502,
            f"loading the options of {action_id} '{input_key}' failed: {exc.message}",
            extra={"error": error},
        ) from None
    except (MissingCredential, InvalidCredential) as exc:
        raise ServiceProblem(
            422, str(exc), errors=[FieldError("body.connection", exc.message)]
        ) from None
    except (InvalidInput, InvalidConfiguration) as exc:
        raise ServiceProblem(422, str(exc), errors=[FieldError("body.inputs", str(exc))]) from None
    return OptionsResult(options=page.options, cursor=page.next_cursor)  # type: ignore[arg-type]
