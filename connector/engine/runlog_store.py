"""Where the run log lives: a SQLite file (the default) or a PostgreSQL database.

RunLog and IntentLog write their SQL once, with `?` placeholders and the upsert both
backends speak (`INSERT ... ON CONFLICT ... DO UPDATE`); a Store runs it on its connection
and supplies only what differs: placeholders, column types, the tables present, the
exclusive transaction a retry claim or a migration takes, the durable commit of a write
intent, and which driver errors to translate (`runlog_errors.py`).

A target is a path (SQLite) or a `postgresql://` URL (`open_store`). The URL's password
is registered as a secret and never part of `where`, the name errors give.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from connector.engine.runlog_errors import runlog_error
from connector.errors import InvalidConfiguration
from connector.redact import register_secret

__all__ = [
    "PostgresStore",
    "Rows",
    "SqliteStore",
    "Store",
    "is_url",
    "open_store",
    "upsert",
    "url_where",
]

_PG_SCHEMES = ("postgresql", "postgres")


class Rows(Protocol):
    """A cursor of either driver: the part the run log uses."""

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


def upsert(table: str, columns: Sequence[str], key: Sequence[str], source: str = "") -> str:
    """INSERT of `columns` that replaces the row with the same `key` (both dialects); from
    `source` (a SELECT with a WHERE clause, which SQLite needs before ON CONFLICT) or from
    one row of values."""
    rows = source or f"VALUES ({', '.join('?' * len(columns))})"
    rest = [c for c in columns if c not in key]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {rows}"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c}=excluded.{c}" for c in rest)
    )


class Store(ABC):
    """One connection to a run log, in autocommit: each statement commits on its own
    unless run inside `transaction()`."""

    #: how errors name the log (a path, or the URL without its password)
    where: str
    #: the driver's errors, translated into RunLogError by `translated`
    errors: tuple[type[BaseException], ...]
    #: orders rows of a table by insertion (a tie-breaker after started_at)
    insertion_order: str

    @abstractmethod
    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    #: a subquery of the integers in one parameter, a JSON array: `idx IN ({int_list})`
    int_list: str

    @abstractmethod
    def transaction(self, *, exclusive: bool = False) -> contextlib.AbstractContextManager[None]:
        """Statements inside commit together; `exclusive` also serialises against every
        other exclusive transaction on the log (retry claims, migrations)."""

    def durable(self) -> contextlib.AbstractContextManager[None]:
        """Statements inside survive a power cut once they return (write intents)."""
        return contextlib.nullcontext()

    #: `INSERT INTO t (...) SELECT ?, ... {quick_commit} ON CONFLICT ...` commits a row that
    #: survives the death of this process once the statement returns, not necessarily the
    #: database's crash: a cheaper commit, in one round trip (journaled attempts)
    quick_commit: str = "WHERE true"

    @abstractmethod
    def table_names(self) -> set[str]: ...

    def ddl(self, sql: str) -> str:
        """The schema's DDL (written for SQLite) in this dialect."""
        return sql

    def script(self, sql: str) -> None:
        """Several `;`-separated statements without parameters (the schema's DDL)."""
        for statement in self.ddl(sql).split(";"):
            if statement.strip():
                self.execute(statement)

    def after_migration(self) -> None:  # noqa: B027 (a hook; most stores need nothing)
        """Called once the schema is current (a read-only session starts here)."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    def raw(self) -> Any:
        """The driver's connection (tests and diagnostics only)."""
        raise NotImplementedError


def is_url(target: Path | str) -> bool:
    return isinstance(target, str) and "://" in target


def open_store(target: Path | str, *, readonly: bool = False) -> Store:
    """The store of `target`: a `postgresql://` URL, or a SQLite file's path."""
    if is_url(target):
        scheme = str(target).split("://", 1)[0].lower()
        if scheme not in _PG_SCHEMES:
            raise InvalidConfiguration(
                f"unsupported run log URL scheme {scheme[:20]!r}: expected postgresql://... "
                "or the path of a SQLite file",
                where="CONNECTOR_RUNLOG/--runlog",
            )
        return PostgresStore(str(target), readonly=readonly)
    return SqliteStore(Path(target), readonly=readonly)


class SqliteStore(Store):
    """One SQLite file (WAL, busy timeout): safe to open from several processes."""

    errors = (sqlite3.Error,)
    insertion_order = "rowid"
    int_list = "SELECT value FROM json_each(?)"

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.where = str(path)
        self._db = self._open_readonly() if readonly else self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise runlog_error(exc, self.where, "creating its directory") from None
        if self.path.is_file() and not os.access(self.path, os.W_OK):
            # sqlite3 would open it and fail at the first write, mid-run.
            denied = PermissionError("no write permission: attempt to write a readonly file")
            raise runlog_error(denied, self.where, "opening it to record runs") from None
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process; only a power loss can drop a
            # commit. Intents of non-idempotent writes are committed with FULL (durable).
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            raise runlog_error(exc, self.where, "opening it") from None
        return db

    def _open_readonly(self) -> sqlite3.Connection:
        """Open for reading only; a missing file reads as an empty log (in memory)."""
        if not self.path.exists():
            return sqlite3.connect(":memory:", isolation_level=None)
        uri = self.path.resolve().as_uri()
        error: sqlite3.Error | None = None
        # mode=ro still needs the WAL index (-shm) writable; immutable=1 reads a file whose
        # directory is read-only too (the last checkpointed state).
        for mode in ("mode=ro", "immutable=1"):
            try:
                db = sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=30, isolation_level=None)
            except sqlite3.Error as exc:
                error = exc
                continue
            try:
                db.execute("SELECT count(*) FROM runs").fetchone()
            except sqlite3.Error as exc:
                db.close()
                error = exc
                continue
            return db
        assert error is not None
        raise runlog_error(error, self.where, "opening it to read") from None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows:
        return self._db.execute(sql, args)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    @contextlib.contextmanager
    def transaction(self, *, exclusive: bool = False) -> Iterator[None]:
        # IMMEDIATE takes the write lock at BEGIN: of two claims, the second waits.
        self._db.execute("BEGIN IMMEDIATE" if exclusive else "BEGIN")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:  # SQLite ends it itself on some errors (disk full)
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def durable(self) -> Iterator[None]:
        self._db.execute("PRAGMA synchronous=FULL")
        try:
            yield
        finally:
            self._db.execute("PRAGMA synchronous=NORMAL")

    def table_names(self) -> set[str]:
        return {name for (name,) in self._db.execute("SELECT name FROM sqlite_master")}

    def close(self) -> None:
        self._db.close()

    @property
    def raw(self) -> sqlite3.Connection:
        return self._db


def url_where(url: str) -> str:
    """A database URL as errors name it: without its password, which is registered as a
    secret (masked wherever it would appear)."""
    parts = urlsplit(url)
    if parts.password:
        register_secret(parts.password)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


#: the advisory lock every exclusive transaction on a PostgreSQL run log takes
_CLAIM_LOCK = 0x72756E6C6F67  # "runlog"


class PostgresStore(Store):
    """A PostgreSQL database (psycopg 3), shared by every process that names it."""

    insertion_order = "id"  # PostgreSQL has no rowid; run ids start with their time
    int_list = "SELECT json_array_elements_text(?::json)::integer"

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        self.where = url_where(url)
        #: the URL as given (its password is registered as a secret): the shared rate
        #: budget lives in the same database when none is named for it
        self.url = url
        try:
            import psycopg
        except ImportError:
            raise InvalidConfiguration(
                "a PostgreSQL run log needs psycopg: pip install 'connector[postgresql]'",
                where=self.where,
            ) from None
        self.errors = (psycopg.Error,)
        self.readonly = readonly
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise runlog_error(exc, self.where, "connecting to it") from None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows:
        # The run log's SQL has no literal `?` or `%`: placeholders are the only ones.
        return self._db.execute(sql.replace("?", "%s"), tuple(args))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), [tuple(row) for row in rows])

    @contextlib.contextmanager
    def transaction(self, *, exclusive: bool = False) -> Iterator[None]:
        with self._db.transaction():
            if exclusive:
                self.execute("SELECT pg_advisory_xact_lock(?)", (_CLAIM_LOCK,))
            yield

    # The server has the commit once it answers: not waiting for its WAL on disk (set for
    # the statement's own transaction, in the statement).
    quick_commit = "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS quick WHERE true"

    def table_names(self) -> set[str]:
        rows: Iterable[tuple[str]] = self.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        return {name for (name,) in rows}

    def ddl(self, sql: str) -> str:
        # SQLite's REAL is 8 bytes; PostgreSQL's is 4 (times would lose their seconds).
        return sql.replace(" REAL", " DOUBLE PRECISION")

    def after_migration(self) -> None:
        if self.readonly:
            self.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")

    def close(self) -> None:
        self._db.close()

    @property
    def raw(self) -> Any:
        return self._db
