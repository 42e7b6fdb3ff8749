"""Fakes for HTTP-layer tests: app specs with error tables, a tiny catalog, mock transports.

The catalog-wide tests (tests/catalog) use the real manifests; these tests pin the HTTP
layer's behaviour on tables written here, so they do not change when a manifest does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from connector.redact import forget_secrets

BITLY_ERRORS = [
    {"status": 403, "code": "RATE_LIMIT_EXCEEDED", "error": "throttled"},
    {"status": 403, "header": "X-Ratelimit-Reason", "error": "throttled"},
    {
        "status": 429,
        "code_pattern": "(.+_)?MONTHLY_(.+_)?LIMIT_EXCEEDED",
        "error": "quota_exhausted",
    },
    {"status": 429, "error": "throttled"},
    {"status": 403, "code": "FORBIDDEN", "error": "authentication"},
    {"status": 403, "error": "permission_denied"},
    {"status": 402, "error": "upgrade_required"},
    {"status": 404, "error": "not_found"},
    {"status": 410, "error": "gone"},
    {"status": 409, "error": "conflict"},
    {"status": [400, 417, 422], "error": "invalid_request"},
    {"status": [500, 502, 503, 504], "error": "server_error"},
]
SHORTEN_ERRORS = [
    {"status": 401, "error": "authentication"},
    {"status": 403, "error": "permission_denied"},
    {"status": 404, "error": "not_found"},
    {"status": 409, "error": "conflict"},
    {"status": 429, "error": "throttled"},
    {"status": 400, "error": "invalid_request"},
    {"status": [500, 503], "error": "server_error"},
]
BITLY_BASE = "https://api-ssl.bitly.test/v4"
SHORTEN_BASE = "https://shorten.test/api/v1"


def app_spec(name: str) -> SimpleNamespace:
    if name == "bitly":
        return SimpleNamespace(
            name="bitly",
            base_url=BITLY_BASE,
            base_url_env="BITLY_API_URL",
            credential_env="BITLY_TOKEN",
            error_body={"code": "message", "description": "description", "field_errors": "errors"},
            errors=BITLY_ERRORS,
            rate_limits=SimpleNamespace(concurrency=5, per_minute=100, per_hour=1000),
        )
    return SimpleNamespace(
        name="shorten_dev",
        base_url=SHORTEN_BASE,
        base_url_env="SHORTEN_API_URL",
        credential_env="SHORTEN_API_KEY",
        error_body={"code": "error", "description": "message", "field_errors": "details"},
        errors=SHORTEN_ERRORS,
        rate_limits=SimpleNamespace(concurrency=10, per_minute=None, per_hour=300),
    )


class FakeCatalog:
    """Just what ActionRunner reads: `apps` and `get(action_id)`."""

    def __init__(self) -> None:
        self.apps = {"bitly": app_spec("bitly"), "shorten_dev": app_spec("shorten_dev")}
        self.actions: dict[str, SimpleNamespace] = {}

    def add(
        self,
        action_id: str,
        *,
        handler: str | None = None,
        request: dict[str, Any] | None = None,
        reconcile: str | None = None,
        pagination: dict[str, Any] | None = None,
    ) -> SimpleNamespace:
        app, key = action_id.split(".")
        spec = SimpleNamespace(
            id=action_id,
            app=app,
            key=key,
            handler=handler,
            request=request,
            reconcile=reconcile,
            pagination=pagination,
        )
        self.actions[action_id] = spec
        return spec

    def get(self, action_id: str) -> SimpleNamespace:
        return self.actions[action_id]


Responder = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport that answers with `responder` and keeps every request."""

    def __init__(self, responder: Responder) -> None:
        self.requests: list[httpx.Request] = []
        self._responder = responder
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._responder(request)


@pytest.fixture(autouse=True)
def _isolated_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def arun() -> Callable[[Any], Any]:
    return run


@pytest.fixture
def make_app() -> Callable[[str], SimpleNamespace]:
    return app_spec


@pytest.fixture
def recorder() -> type[Recorder]:
    return Recorder
