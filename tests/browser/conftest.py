"""The service the console's browser tests drive: under uvicorn on a loopback port (as
`connector serve --sandbox` runs it), over the embedded sandboxes, with a FakeClock so
retry waits take no time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.clock import FakeClock
from connector.sandbox.controls import Controls
from connector.sandbox.embedded import EmbeddedSandboxes, embedded_sandboxes
from connector.sandbox.server import BackgroundServer
from connector.service import ServiceConfig, create_app

from .chromium import CHROMIUM

KEY = "browser-test-key-0123456789"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, EmbeddedSandboxes]]:
    if not CHROMIUM.is_file():
        pytest.fail(f"the browser test needs {CHROMIUM}: run tools/install_test_deps")
    with embedded_sandboxes(controls=Controls()) as boxes:
        config = ServiceConfig(
            home=tmp_path / "home",
            api_keys=(KEY,),
            base_urls=dict(boxes.base_urls),
            credentials=dict(boxes.credentials),
            sandbox=True,
            clock=FakeClock(),
        )
        with BackgroundServer(create_app(config)) as server:
            yield server.url, boxes
