"""CONNECTOR_SOURCE_ADDRESS: a process's requests leave from the local address it names,
so loopback addresses stand in for machines (a sandbox capping connections per client
address sees each as one); a bad value is one line, exit 2, before anything is sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.catalog import load_catalog
from connector.errors import InvalidConfiguration
from connector.http.source_address import source_address
from connector.runner import ActionRunner
from connector.sandbox.server import BackgroundServer

TOKEN = "source-token-5c2e9a71"
ACTION = "bitly.get_bitlink"


async def _client_address(request: Request) -> JSONResponse:
    assert request.client is not None
    return JSONResponse({"id": "bit.ly/abc", "from": request.client.host})


@pytest.fixture(scope="module")
def server() -> Any:
    app = Starlette(routes=[Route("/v4/{rest:path}", _client_address)])
    with BackgroundServer(app) as running:
        yield running


def _seen_from(server: Any, env: dict[str, str]) -> str:
    async def main() -> str:
        async with ActionRunner(
            load_catalog(),
            base_urls={"bitly": server.url + "/v4"},
            credentials={"bitly": TOKEN},
            env=env,
        ) as runner:
            client = runner.client("bitly", ACTION)
            body = await client.request(ACTION, "GET", "bitlinks/bit.ly/abc")
            return str(body["from"])

    return asyncio.run(main())


@pytest.mark.parametrize("address", ["127.0.0.2", "127.0.0.3"])
def test_requests_leave_from_the_address_set(server: Any, address: str) -> None:
    assert _seen_from(server, {"CONNECTOR_SOURCE_ADDRESS": address}) == address


def test_unset_the_system_picks_the_address(server: Any) -> None:
    assert _seen_from(server, {}) == "127.0.0.1"


@pytest.mark.parametrize("value", ["localhost", "127.0.0", "10.0.0.1; rm -rf /", "::g"])
def test_a_value_that_is_no_ip_address_is_refused(value: str) -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        source_address({"CONNECTOR_SOURCE_ADDRESS": value})
    assert caught.value.where == "CONNECTOR_SOURCE_ADDRESS"
    assert caught.value.exit_code == 2
    assert "expected a local IP address" in caught.value.message
    # refused when the runner is made, before any request
    with pytest.raises(InvalidConfiguration):
        ActionRunner(load_catalog(), env={"CONNECTOR_SOURCE_ADDRESS": value})


def test_blank_means_unset() -> None:
    assert source_address({"CONNECTOR_SOURCE_ADDRESS": "  "}) is None
    assert source_address({"CONNECTOR_SOURCE_ADDRESS": " 127.0.0.9 "}) == "127.0.0.9"
