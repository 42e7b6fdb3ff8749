"""ActionRunner and AppClient: declarative requests, handlers, credentials, budgets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from connector import __version__
from connector import errors as E
from connector.runner import ActionRunner, resolve_handler

TOKEN = "tok_runner_secret_0123456789"


def ok(body: Any, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body)


class CountingBudget:
    def __init__(self) -> None:
        self.slots = 0
        self.active = 0
        self.throttles: list[float | None] = []
        self.endpoints: list[tuple[str, str]] = []

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        self.slots += 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1

    def slot(self, method: str = "", path: str = "") -> AbstractAsyncContextManager[None]:
        self.endpoints.append((method, path))
        return self._slot()

    def throttled(self, retry_after: float | None) -> None:
        self.throttles.append(retry_after)


def runner_for(catalog: Any, transport: httpx.AsyncBaseTransport, **kw: Any) -> ActionRunner:
    kw.setdefault("credentials", {"bitly": TOKEN, "shorten_dev": TOKEN + "_s"})
    kw.setdefault("env", {})
    return ActionRunner(catalog, transport=transport, **kw)


def test_declarative_request_renders_path_query_and_body(catalog, recorder, arun) -> None:
    catalog.add(
        "bitly.update_bitlink",
        request={
            "method": "PATCH",
            "path": "/bitlinks/{bitlink}",
            "query": {"unit": "<<inputs.unit>>", "fixed": "yes"},
            "body": {"title": "<<inputs.title>>", "archived": "<<inputs.archived>>"},
        },
    )
    rec = recorder(ok({"id": "bit.ly/abc"}))

    async def go() -> Any:
        async with runner_for(catalog, rec.transport) as runner:
            return await runner.run(
                "bitly.update_bitlink", {"bitlink": "https://bit.ly/abc/", "archived": True}
            )

    assert arun(go()) == {"id": "bit.ly/abc"}
    (req,) = rec.requests
    assert req.method == "PATCH"
    assert str(req.url) == "https://api-ssl.bitly.test/v4/bitlinks/bit.ly/abc?fixed=yes"
    # absent optional inputs drop their keys; a native boolean stays a boolean
    assert json.loads(req.content) == {"archived": True}
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["user-agent"] == f"connector/{__version__}"


def test_path_parameter_cannot_reach_another_endpoint(catalog, recorder, arun) -> None:
    catalog.add("shorten_dev.get_link", request={"method": "GET", "path": "/links/{slug}"})
    rec = recorder(ok({}))

    async def go() -> None:
        async with runner_for(catalog, rec.transport) as runner:
            await runner.run("shorten_dev.get_link", {"slug": "../../admin?x=1#y"})

    arun(go())
    assert rec.requests[0].url.raw_path == b"/api/v1/links/..%2F..%2Fadmin%3Fx%3D1%23y"


def test_invalid_bitlink_is_invalid_input_naming_the_action(catalog, recorder, arun) -> None:
    catalog.add("bitly.get_bitlink", request={"method": "GET", "path": "/bitlinks/{bitlink}"})
    rec = recorder(ok({}))

    async def go() -> None:
        async with runner_for(catalog, rec.transport) as runner:
            await runner.run("bitly.get_bitlink", {"bitlink": "bit.ly/x/../../user"})

    with pytest.raises(E.InvalidInput) as info:
        arun(go())
    assert str(info.value).startswith("bitly.get_bitlink: invalid bitlink")
    assert rec.requests == []


def test_missing_credential_names_the_env_variable(catalog, recorder, arun) -> None:
    catalog.add("bitly.get_user", request={"method": "GET", "path": "/user"})
    rec = recorder(ok({}))

    async def go() -> None:
        async with ActionRunner(catalog, transport=rec.transport, env={}) as runner:
            await runner.run("bitly.get_user", {})

    with pytest.raises(E.MissingCredential) as info:
        arun(go())
    assert "BITLY_TOKEN" in str(info.value)
    assert info.value.exit_code == 2


def test_env_credential_and_base_url_override(catalog, recorder, arun) -> None:
    catalog.add("bitly.get_user", request={"method": "GET", "path": "/user"})
    rec = recorder(ok({"login": "demo"}))
    env = {"BITLY_TOKEN": TOKEN, "BITLY_API_URL": "http://127.0.0.1:9/v4"}

    async def go() -> Any:
        async with ActionRunner(catalog, transport=rec.transport, env=env) as runner:
            return await runner.run("bitly.get_user", {})

    assert arun(go()) == {"login": "demo"}
    assert str(rec.requests[0].url) == "http://127.0.0.1:9/v4/user"
    assert rec.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_one_pooled_client_per_app_and_credential(catalog, recorder, arun) -> None:
    catalog.add("bitly.get_user", request={"method": "GET", "path": "/user"})
    catalog.add("bitly.get_groups", request={"method": "GET", "path": "/groups"})
    rec = recorder(ok({}))

    async def go() -> int:
        async with runner_for(catalog, rec.transport) as runner:
            await runner.run("bitly.get_user", {})
            await runner.run("bitly.get_groups", {})
            return len(runner._clients)

    assert arun(go()) == 1


def test_budget_slot_held_and_throttle_reported(catalog, recorder, arun) -> None:
    catalog.add("bitly.get_user", request={"method": "GET", "path": "/user"})
    budget = CountingBudget()
    seen_active: list[int] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen_active.append(budget.active)
        return httpx.Response(
            403, json={"message": "RATE_LIMIT_EXCEEDED"}, headers={"Retry-After": "9"}
        )

    rec = recorder(respond)

    async def go() -> None:
        async with runner_for(catalog, rec.transport, budgets={"bitly": budget}) as runner:
            await runner.run("bitly.get_user", {})

    with pytest.raises(E.Throttled):
        arun(go())
    assert budget.slots == 1 and seen_active == [1]
    assert budget.throttles == [9.0]
    assert budget.endpoints == [("GET", "user")]  # the endpoint, for per-endpoint limits


def test_204_and_empty_body_are_none(catalog, recorder, arun) -> None:
    catalog.add("bitly.delete_webhook", request={"method": "DELETE", "path": "/webhooks/{guid}"})
    rec = recorder(lambda r: httpx.Response(204))

    async def go() -> Any:
        async with runner_for(catalog, rec.transport) as runner:
            return await runner.run("bitly.delete_webhook", {"guid": "W1"})

    assert arun(go()) is None


def test_non_json_success_body_is_a_clear_error(catalog, recorder, arun) -> None:
    catalog.add("bitly.get_user", request={"method": "GET", "path": "/user"})
    rec = recorder(lambda r: httpx.Response(200, text="<html><b>Login</b></html>"))

    async def go() -> None:
        async with runner_for(catalog, rec.transport) as runner:
            await runner.run("bitly.get_user", {})

    with pytest.raises(E.FatalError, match=r"bitly.get_user: .*non-JSON body .*'Login'"):
        arun(go())


def test_transport_exception_is_translated(catalog, arun) -> None:
    catalog.add("shorten_dev.create_link", request={"method": "POST", "path": "/links"})

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    async def go() -> None:
        async with runner_for(catalog, httpx.MockTransport(boom)) as runner:
            await runner.run("shorten_dev.create_link", {})

    with pytest.raises(E.TransportError) as info:
        arun(go())
    assert info.value.write_applied is None
    assert str(info.value).startswith("shorten_dev.create_link: lost the connection")


def test_action_without_request_or_handler(catalog, recorder, arun) -> None:
    catalog.add("bitly.nothing")

    async def go() -> None:
        async with runner_for(catalog, recorder(ok({})).transport) as runner:
            await runner.run("bitly.nothing", {})

    with pytest.raises(E.InvalidConfiguration, match="neither a request nor a handler"):
        arun(go())


@pytest.mark.parametrize(
    ("dotted", "message"),
    [
        ("connector.apps.bitly.metrics", "must look like"),
        ("actions.nope:run", "module not found"),
        ("connector.apps.bitly.metrics:nope", "has no function 'nope'"),
    ],
)
def test_resolve_handler_errors(dotted: str, message: str) -> None:
    with pytest.raises(E.InvalidConfiguration, match=message):
        resolve_handler(dotted)


def test_reconcile_requires_a_declared_handler(catalog, recorder, arun) -> None:
    catalog.add("shorten_dev.get_link", request={"method": "GET", "path": "/links/{slug}"})

    async def go() -> None:
        async with runner_for(catalog, recorder(ok({})).transport) as runner:
            await runner.reconcile("shorten_dev.get_link", {"slug": "abc"})

    with pytest.raises(E.InvalidConfiguration, match="no reconcile handler"):
        arun(go())
