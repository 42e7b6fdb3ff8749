"""A private PostgreSQL for run-log tests, from the `pgserver` wheel (test extra).

One server per test session, in a temporary folder of its own; each test gets a database of
its own. Never skipped: when pgserver or psycopg is missing, or the server cannot start,
the test fails saying which.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

_numbers = itertools.count()


class PgServer:
    def __init__(self, folder: Path) -> None:
        try:
            with warnings.catch_warnings():
                # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers).
                warnings.simplefilter("ignore")
                import pgserver
            import psycopg
        except ImportError as exc:
            pytest.fail(
                f"the PostgreSQL run-log tests need {exc.name}: pip install -e '.[test]' "
                "(pgserver and psycopg[binary] are test extras)"
            )
        try:
            self._server: Any = pgserver.get_server(folder, cleanup_mode="stop")
            self.uri: str = self._server.get_uri()
        except Exception as exc:  # pgserver raises several kinds when initdb/pg_ctl fail
            pytest.fail(f"the private PostgreSQL (pgserver) did not start in {folder}: {exc}")
        self._psycopg = psycopg

    def database_url(self) -> str:
        """A new, empty database's URL."""
        name = f"runlog_{next(_numbers)}"
        with self._psycopg.connect(self.uri, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        parts = urlsplit(self.uri)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def stop(self) -> None:
        self._server.cleanup()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    # Not under pytest's basetemp: run as root, pgserver runs PostgreSQL as its own user,
    # and every pytest session that starts resets /tmp/pytest-of-root to 0700, which
    # would lock that user out of a running server's data.
    folder = Path(tempfile.mkdtemp(prefix="connector-pg-"))
    server = PgServer(folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def runlog_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's run log lives: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "runs.db"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.database_url()
