"""Issue 7 point 16 (sandbox): the admin endpoints need a token, refuse cross-origin requests
and bodies over 64 KB; a client that disconnects mid-body leaves no traceback in the log."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from connector.sandbox import bitly, shorten_dev
from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SHORTEN_KEY, SandboxConfig
from connector.sandbox.controls import MAX_ADMIN_BODY, Controls
from connector.sandbox.server import BackgroundServer

from .conftest import ROOT

TOKEN = "admin-token-for-tests-0123456789"
GOOD = {"X-Sandbox-Admin-Token": TOKEN}


def _client(app: object) -> httpx.Client:
    return httpx.Client(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8411")


def _call(app: object, method: str, path: str, **kw: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8411") as c:
            return await c.request(method, path, **kw)  # type: ignore[arg-type]

    return asyncio.run(go())


@pytest.fixture(params=["bitly", "shorten_dev"])
def app(request: pytest.FixtureRequest) -> object:
    module = bitly if request.param == "bitly" else shorten_dev
    return module.create_app(SandboxConfig(controls=Controls(admin=True, admin_token=TOKEN)))


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Sandbox-Admin-Token": "wrong"}, {"Authorization": f"Bearer {TOKEN}"}],
    ids=["none", "wrong", "as-bearer"],
)
def test_admin_without_the_token_is_401_and_changes_nothing(
    app: object, headers: dict[str, str]
) -> None:
    for method, path in (("GET", "/_sandbox/counts"), ("POST", "/_sandbox/counts/reset")):
        assert _call(app, method, path, headers=headers).status_code == 401
    put = _call(app, "PUT", "/_sandbox/controls", headers=headers, json={"faults": {"seed": 5}})
    assert put.status_code == 401 and "X-Sandbox-Admin-Token" in put.json()["message"]
    assert app.state.controls.controls.faults.seed == 0  # type: ignore[attr-defined]
    ok = _call(app, "PUT", "/_sandbox/controls", headers=GOOD, json={"faults": {"seed": 5}})
    assert ok.status_code == 200 and ok.json()["faults"]["seed"] == 5
    assert TOKEN not in ok.text  # the token is never echoed


def test_a_token_is_made_when_admin_is_on_and_none_given() -> None:
    app = bitly.create_app(SandboxConfig(controls=Controls(admin=True)))
    made = app.state.controls.controls.admin_token
    assert made and len(made) >= 24
    assert _call(app, "GET", "/_sandbox/counts").status_code == 401
    headers = {"X-Sandbox-Admin-Token": made}
    assert _call(app, "GET", "/_sandbox/counts", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Origin": "http://127.0.0.1:8411"}, 200),  # the sandbox's own page
        ({"Sec-Fetch-Site": "same-origin"}, 200),
    ],
)
def test_cross_origin_posts_are_refused_even_with_the_token(
    app: object, extra: dict[str, str], status: int
) -> None:
    reply = _call(app, "POST", "/_sandbox/counts/reset", headers={**GOOD, **extra})
    assert reply.status_code == status
    reply = _call(app, "PUT", "/_sandbox/controls", headers={**GOOD, **extra}, json={})
    assert reply.status_code == status


def test_a_30_mb_body_is_refused_unread(app: object) -> None:
    sent = 0

    async def body() -> object:
        nonlocal sent
        chunk = b" " * 65536
        for _ in range(30 * 16):
            sent += len(chunk)
            yield chunk

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.put("/_sandbox/controls", headers=GOOD, content=body())

    reply = asyncio.run(go())
    assert reply.status_code == 413 and reply.json()["error"] == "too_large"
    # httpx's ASGI transport reads the stream whole before calling the app; what matters
    # is that the middleware stopped at the bound (a declared length is refused at once):
    declared = _call(
        app, "PUT", "/_sandbox/controls", headers={**GOOD, "Content-Length": str(30 << 20)}
    )
    assert declared.status_code == 413
    small = _call(app, "PUT", "/_sandbox/controls", headers=GOOD, content=b" " * MAX_ADMIN_BODY)
    assert small.status_code == 400  # within the bound: read, then refused as not JSON


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[_Records]:
    handler = _Records()
    yield handler
    for name in _LOGGERS:
        logging.getLogger(name).removeHandler(handler)


# uvicorn configures its loggers when a server is built: listen only once it runs.
_LOGGERS = ("", "uvicorn", "uvicorn.error", "connector")


def _listen(handler: logging.Handler) -> None:
    for name in _LOGGERS:
        logging.getLogger(name).addHandler(handler)


def _disconnect_mid_body(port: int, request: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("which", "path", "auth"),
    [
        ("shorten_dev", "/_sandbox/controls", f"X-Sandbox-Admin-Token: {TOKEN}"),
        ("shorten_dev", "/api/v1/links", f"Authorization: Bearer {DEMO_SHORTEN_KEY}"),
        ("bitly", "/_sandbox/controls", f"X-Sandbox-Admin-Token: {TOKEN}"),
        ("bitly", "/v4/shorten", f"Authorization: Bearer {DEMO_BITLY_TOKEN}"),
    ],
)
def test_a_client_disconnect_mid_body_logs_no_traceback(
    logged: _Records, which: str, path: str, auth: str
) -> None:
    module = bitly if which == "bitly" else shorten_dev
    app = module.create_app(SandboxConfig(controls=Controls(admin=True, admin_token=TOKEN)))
    method = "PUT" if path.startswith("/_sandbox") else "POST"
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n"
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a"'
    ).encode()
    with BackgroundServer(app) as server:
        _listen(logged)
        _disconnect_mid_body(server.port, request)
        # the server is still fine, and answers the next request
        headers = {"X-Sandbox-Admin-Token": TOKEN}
        assert httpx.get(server.url + "/_sandbox/counts", headers=headers).status_code == 200
    bad = [r for r in logged.records if r.levelno >= logging.WARNING or r.exc_info]
    assert bad == [], [r.getMessage() for r in bad]


@pytest.mark.slow
def test_the_cli_prints_the_admin_token_it_requires() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = "import sys; from connector.cli import main; sys.exit(main())"
    argv = ["sandbox", "serve", "bitly", "--admin", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        token = line.split("admin token: ", 1)[1].strip()
        url = f"http://127.0.0.1:{port}/_sandbox/counts"
        deadline = time.monotonic() + 10  # bound and announced, listening a moment later
        while True:
            try:
                first = httpx.get(url)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the sandbox never listened"
                time.sleep(0.05)
        assert first.status_code == 401
        assert httpx.get(url, headers={"X-Sandbox-Admin-Token": token}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
