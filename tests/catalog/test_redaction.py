"""A planted token must appear in no output: exceptions, to_dict, CLI stdout/stderr, cassettes.

The server below echoes the Authorization header everywhere it can: in a success body, in
an error's description and field errors, in an HTML error page and in a response header.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import vcr as vcrpy
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from connector.cli import main
from connector.errors import ConnectorError
from connector.redact import MASK, forget_secrets
from connector.runner import ActionRunner
from connector.sandbox.server import BackgroundServer

from .recording import CASSETTES, Target, scrubbing_config

PLANTED = "planted-token-7f3a9c2e5b1d4f60"


def _token(request: Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


async def user(request: Request) -> Response:
    token = _token(request)
    return JSONResponse({"login": token, "name": f"owner of {token}"}, headers={"X-Echo": token})


async def bitlink(request: Request) -> Response:
    token = _token(request)
    body = {
        "message": "INVALID_ARG_BITLINK",
        "description": f"token {token} is not allowed here",
        "errors": [{"field": "bitlink", "message": f"seen {token}", "error_code": "invalid"}],
    }
    return JSONResponse(body, status_code=400, headers={"X-Echo": token})


async def group_links(request: Request) -> Response:
    token = _token(request)
    if request.path_params["guid"] == "Bnextpage":
        # A next page that leaves the API, carrying the token in its query and its host.
        nxt = f"https://{token}.evil.test/v4/groups/B/bitlinks?access_token={token}&page=2"
        return JSONResponse({"links": [], "pagination": {"next": nxt}})
    if request.path_params["guid"] == "Bqueryecho":
        return JSONResponse(
            {"message": "INVALID_ARG", "description": f"bad query ?token={token}"}, 422
        )
    return HTMLResponse(f"<html><body><h1>403</h1><p>{token}</p></body></html>", 403)


ECHO_APP = Starlette(
    routes=[
        Route("/v4/user", user),
        Route("/v4/bitlinks/{domain}/{hash}", bitlink),
        Route("/v4/groups/{guid}/bitlinks", group_links),
    ]
)


@pytest.fixture(scope="module")
def echo_url() -> Any:
    with BackgroundServer(ECHO_APP) as server:
        yield server.url + "/v4"


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Any:
    forget_secrets()
    yield
    forget_secrets()


def test_planted_token_absent_from_exceptions(catalog: Any, echo_url: str) -> None:
    async def go(action_id: str, inputs: dict[str, Any]) -> Any:
        async with ActionRunner(
            catalog, base_urls={"bitly": echo_url}, credentials={"bitly": PLANTED}, env={}
        ) as runner:
            return await runner.run(action_id, inputs)

    for action_id, inputs in [
        ("bitly.get_bitlink", {"bitlink": "bit.ly/abc"}),
        ("bitly.list_group_bitlinks", {"group_guid": "Bdemo000001"}),
        ("bitly.list_group_bitlinks", {"group_guid": "Bnextpage"}),
        ("bitly.list_group_bitlinks", {"group_guid": "Bqueryecho"}),
    ]:
        with pytest.raises(ConnectorError) as info:
            asyncio.run(go(action_id, inputs))
        err = info.value
        shown = [str(err), repr(err), json.dumps(err.to_dict()), repr(err.args)]
        assert all(PLANTED not in text for text in shown), shown
        assert MASK in str(err)  # the echo was there, and it was masked


def test_planted_token_absent_from_cli_output(
    echo_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BITLY_TOKEN", PLANTED)
    monkeypatch.setenv("BITLY_API_URL", echo_url)
    assert main(["actions", "run", "bitly.get_user", "--json"]) == 0
    out, err = capsys.readouterr()
    assert PLANTED not in out + err
    assert json.loads(out)["login"] == MASK

    assert main(["actions", "run", "bitly.get_bitlink", "--input", "bitlink=bit.ly/abc"]) == 1
    out, err = capsys.readouterr()
    assert PLANTED not in out + err
    assert err.startswith("error: bitly.get_bitlink: ") and err.count("\n") == 1


def test_planted_token_absent_from_a_recorded_cassette(
    catalog: Any, echo_url: str, tmp_path: Path
) -> None:
    fixed = "http://bitly.sandbox.test/v4"
    target = Target({"bitly": echo_url}, {"bitly": PLANTED}, {echo_url: fixed}, (PLANTED,))
    recorder = vcrpy.VCR(record_mode="all", **scrubbing_config(target))
    cassette = tmp_path / "planted.yaml"

    async def go() -> None:
        async with ActionRunner(
            catalog, base_urls={"bitly": echo_url}, credentials={"bitly": PLANTED}, env={}
        ) as runner:
            await runner.run("bitly.get_user", {})
            with pytest.raises(ConnectorError):
                await runner.run("bitly.get_bitlink", {"bitlink": "bit.ly/abc"})

    with recorder.use_cassette(str(cassette)):
        asyncio.run(go())
    text = cassette.read_text()
    assert "INVALID_ARG_BITLINK" in text  # both interactions were recorded
    assert PLANTED not in text
    assert "Bearer" not in text and "authorization" not in text.lower()
    assert "127.0.0.1" not in text


def test_committed_cassettes_hold_no_credential() -> None:
    from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SHORTEN_KEY

    files = sorted(CASSETTES.rglob("*.yaml"))
    assert files, "no cassettes found"
    for path in files:
        text = path.read_text()
        for needle in (DEMO_BITLY_TOKEN, DEMO_SHORTEN_KEY, "Bearer ", "127.0.0.1"):
            assert needle not in text, f"{path.name} holds {needle!r}"
