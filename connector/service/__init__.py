"""The builder service: an HTTP API (`/v1`) and a web console over the same engine the CLI runs.

    app = create_app(ServiceConfig(home=Path("~/.connector"), api_keys=("...",)))

`connector serve` runs it under uvicorn; tests drive it in-process with httpx's ASGITransport.
"""

from connector.service.app import create_app
from connector.service.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]
