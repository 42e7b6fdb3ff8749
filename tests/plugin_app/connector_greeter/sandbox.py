"""A local Greeter API: GET /api/v1/greetings/{name}?language=en|fr, bearer token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.sandbox.config import SandboxConfig
from connector.sandbox.plugin import SandboxPlugin

__all__ = ["DEMO_TOKEN", "SANDBOX", "create_app"]

DEMO_TOKEN = "greeter-demo-token-0123456789"
GREETINGS = {"en": "Hello", "fr": "Bonjour"}


def create_app(config: SandboxConfig, options: Mapping[str, Any]) -> Starlette:
    accepted = {f"Bearer {token}" for token in (config.tokens or {DEMO_TOKEN: frozenset()})}

    async def greet(request: Request) -> JSONResponse:
        if request.headers.get("authorization") not in accepted:
            return JSONResponse({"error": "unauthorized", "message": "unknown token"}, 401)
        language = request.query_params.get("language", "en")
        if language not in GREETINGS:
            message = f"language must be one of {', '.join(GREETINGS)}"
            return JSONResponse({"error": "invalid", "message": message}, 400)
        name = request.path_params["name"]
        return JSONResponse({"greeting": f"{GREETINGS[language]}, {name}!", "language": language})

    return Starlette(routes=[Route("/api/v1/greetings/{name}", greet)])


SANDBOX = SandboxPlugin(
    name="Greeter",
    description="Greeter API v1 at /api/v1 (port 8490)",
    api_path="/api/v1",
    demo_credential=DEMO_TOKEN,
    create_app=create_app,
    default_port=8490,
)
