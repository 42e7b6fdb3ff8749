"""The catalog the tests in this directory check; cassette plumbing is in recording.py."""

from __future__ import annotations

import pytest

from connector.catalog import Catalog, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()
