"""The service the console's browser tests drive, under uvicorn on a loopback port (as
`connector serve --sandbox` runs it), over the embedded sandboxes, with a FakeClock so
retry waits take no time; and a Chromium page signed in to its console."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.clock import FakeClock
from connector.sandbox.controls import Controls
from connector.sandbox.embedded import EmbeddedSandboxes, embedded_sandboxes
from connector.sandbox.server import BackgroundServer
from connector.service import ServiceConfig, create_app

from .chromium import CHROMIUM, CHROMIUM_FLAGS

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


@pytest.fixture
def console(served: tuple[str, EmbeddedSandboxes]) -> Iterator[Any]:
    """A Chromium page signed in to the served console (showing the runs)."""
    from playwright.sync_api import sync_playwright

    url, _ = served
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        page = chromium.new_page()
        page.goto(url + "/")
        page.fill("input[type=password]", KEY)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("table#runs")
        yield page
        chromium.close()
