"""Fixtures: embedded sandboxes and a service configured to use them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.clock import FakeClock
from connector.sandbox.controls import Controls
from connector.sandbox.embedded import EmbeddedSandboxes, embedded_sandboxes
from connector.service import ServiceConfig

from .helpers import KEY


@pytest.fixture
def controls() -> Controls:
    return Controls()


@pytest.fixture
def boxes(controls: Controls) -> Iterator[EmbeddedSandboxes]:
    with embedded_sandboxes(controls=controls) as running:
        yield running


@pytest.fixture
def config(tmp_path: Path, boxes: EmbeddedSandboxes) -> ServiceConfig:
    return ServiceConfig(
        home=tmp_path / "home",
        api_keys=(KEY,),
        base_urls=dict(boxes.base_urls),
        credentials=dict(boxes.credentials),
        sandbox=True,
        clock=FakeClock(),
    )
