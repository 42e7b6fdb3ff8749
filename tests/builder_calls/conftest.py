"""What a builder calls besides actions (an input's options, a trigger's poll), on a
sandbox the test starts; `cli_sandbox` makes `--sandbox` reach that same sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from connector.catalog import Catalog, load_catalog
from connector.sandbox import embedded
from connector.sandbox.embedded import EmbeddedSandboxes


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def cli_sandbox(boxes: EmbeddedSandboxes, monkeypatch: pytest.MonkeyPatch) -> EmbeddedSandboxes:
    """`--sandbox` gets the test's sandbox (`boxes`), which lives across CLI calls."""

    @contextmanager
    def same(**_: Any) -> Iterator[EmbeddedSandboxes]:
        yield boxes

    monkeypatch.setattr(embedded, "embedded_sandboxes", same)
    return boxes
