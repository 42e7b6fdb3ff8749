"""Fixtures: a clicks table, a helper to add clicks at given times, and a demo-filled database."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from connector.sandbox.clicks import (
    CLICKS_DDL,
    click_from_request,
    generate_demo_clicks,
    insert_clicks,
)

DEMO_NOW = datetime(2026, 1, 15, 15, 30, tzinfo=UTC).timestamp()
DEMO_LINKS = [(f"bit.ly/demo{i:02d}", DEMO_NOW - 86400 * (130 - 5 * i)) for i in range(25)]

AddClick = Callable[..., None]


@pytest.fixture(scope="session")
def demo_now() -> float:
    return DEMO_NOW


@pytest.fixture(scope="session")
def demo_links() -> list[tuple[str, float]]:
    return list(DEMO_LINKS)


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.executescript(CLICKS_DDL)
    yield connection
    connection.close()


@pytest.fixture
def add_click(conn: sqlite3.Connection) -> AddClick:
    """add_click(link_key, ts, **overrides): record one click with chosen fields."""

    def add(link_key: str, ts: float, **overrides: str) -> None:
        base = click_from_request(link_key, {"X-Country": "US"}, "192.0.2.1", ts)
        insert_clicks(conn, [replace(base, **overrides)])

    return add


@pytest.fixture(scope="module")
def demo_conn() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.executescript(CLICKS_DDL)
    insert_clicks(connection, generate_demo_clicks(7, DEMO_LINKS, DEMO_NOW))
    connection.commit()
    yield connection
    connection.close()
