"""Helpers: the service in-process (httpx ASGITransport, no network) over embedded sandboxes, with a
FakeClock so retry waits take no time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from connector.sandbox.controls import Faults
from connector.sandbox.embedded import EmbeddedSandboxes
from connector.service import ServiceConfig, create_app

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
METRICS = "GET /v4/bitlinks/{bitlink}/clicks"


#: two of the demo campaign's eight links: the sandbox fails their metrics requests under
#: `Faults(fail_paths=FAILING)`, whatever order the loop's requests arrive in
FAILING = ("/bit.ly/EZ6mcli/", "/bit.ly/OhbxBZd/")


def weekly_report(max_attempts: int = 2) -> dict[str, Any]:
    """The example weekly report, its loop given `max_attempts` (waits on the fake clock)."""
    doc: dict[str, Any] = yaml.safe_load(
        (ROOT / "examples/weekly_campaign_report.yaml").read_text()
    )
    doc["retry"] = {"max_attempts": 5, "initial_delay": 1, "multiplier": 2, "jitter": 0}
    doc["steps"][1]["retry"] = {"max_attempts": max_attempts, "initial_delay": 1, "jitter": 0}
    return doc


@asynccontextmanager
async def client_for(config: ServiceConfig) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        client.app = app  # type: ignore[attr-defined]
        try:
            yield client
        finally:
            await app.state.service.launcher.close()


async def wait_idle(client: httpx.AsyncClient) -> None:
    await client.app.state.service.launcher.wait_idle()  # type: ignore[attr-defined]


def faults_on(boxes: EmbeddedSandboxes, app: str, faults: Faults) -> None:
    """Inject `faults` into one sandbox, from its seed's start."""
    middleware = boxes.apps[app].state.controls
    middleware.controls.faults = faults
    middleware.reset_faults()
