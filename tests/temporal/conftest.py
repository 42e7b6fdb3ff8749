"""One Temporal dev server per test session (or `$CONNECTOR_TEST_TEMPORAL`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .temporal_box import ENV_SERVER, TemporalServer, reachable


@pytest.fixture(scope="session")
def temporal_address() -> Iterator[str]:
    given = os.environ.get(ENV_SERVER)
    if given:
        if not reachable(given):
            pytest.fail(f"${ENV_SERVER}={given}: no Temporal server answers there")
        yield given
        return
    folder = Path(tempfile.mkdtemp(prefix="connector-temporal-"))
    server = TemporalServer(folder)
    yield server.address
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)
