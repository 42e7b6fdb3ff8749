"""The catalog the tests in this directory check; cassette plumbing is in recording.py."""

from __future__ import annotations

import pytest

from connector.catalog import Catalog, load_catalog

from .recording import RECORD_COMMAND


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session", autouse=True)
def _recording_is_done_by_the_tool(request: pytest.FixtureRequest) -> None:
    # pytest-recording's option would record nothing here: say what does, instead.
    mode = request.config.getoption("--record-mode", default=None)
    if mode not in (None, "none"):
        pytest.exit(
            f"--record-mode={mode}: tests/catalog only replays; record with `{RECORD_COMMAND}` "
            "(missing cassettes), `... APP.KEY` (one action) or `... --all`",
            returncode=4,
        )
