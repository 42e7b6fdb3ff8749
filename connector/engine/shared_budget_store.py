"""Where shared rate budgets keep their counts: two tables in a PostgreSQL database.

`shared_budgets` holds one row per budget (app and credential, by a hash: never the
credential itself) with the shared throttle pause (`resume_at`, on the database's clock);
it is also the budget's lock: every reservation takes it `FOR UPDATE`, so reservations of
one budget are serialised across every process, in the order PostgreSQL queues them.
`shared_budget_windows` holds one row per window counter (app-wide, per bucket, per
endpoint; per second, minute, hour, month): the fixed windows' counts and the sliding log
of send times, read and written inside that same transaction.

The arithmetic is not here: `reserve` hands the budget the database's time, the pause and
the windows' states, and writes back what the budget computed (connector/engine/
shared_budget.py), so the shared budget counts with exactly the in-process budget's code.
"""

from __future__ import annotations

import asyncio
import json
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from connector.errors import InvalidConfiguration, TransportError
from connector.redact import redact

__all__ = ["BudgetStore", "Reserved", "WindowState"]

#: the advisory lock that serialises creating the tables (two processes starting at once)
_SCHEMA_LOCK = 0x627564676574  # "budget"

_SCHEMA = (
    """CREATE UNLOGGED TABLE IF NOT EXISTS shared_budgets (
        key TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        resume_at DOUBLE PRECISION NOT NULL DEFAULT 0,
        reservations BIGINT NOT NULL DEFAULT 0
    )""",
    """CREATE UNLOGGED TABLE IF NOT EXISTS shared_budget_windows (
        key TEXT NOT NULL REFERENCES shared_budgets (key) ON DELETE CASCADE,
        window_id TEXT NOT NULL,
        counts TEXT NOT NULL,
        log BYTEA NOT NULL,
        sliding BOOLEAN NOT NULL,
        PRIMARY KEY (key, window_id)
    )""",
    # send times barely compress: spare the server compressing them on every write
    "ALTER TABLE shared_budget_windows ALTER COLUMN log SET STORAGE EXTERNAL",
)

#: the budget's lock, the database's clock and the shared pause
_LOCK = """
SELECT extract(epoch FROM clock_timestamp())::float8, resume_at
FROM shared_budgets WHERE key = %s FOR UPDATE
"""

#: the windows, read by a statement of its own: under READ COMMITTED each statement sees
#: what was committed when it began, so this one (after the lock was granted) sees the
#: previous holder's writes, where a join in the locking statement would not
_READ = """
SELECT window_id, counts, log, sliding FROM shared_budget_windows
WHERE key = %s AND window_id = ANY(%s::text[])
"""

_WRITE_WINDOW = """
INSERT INTO shared_budget_windows (key, window_id, counts, log, sliding)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (key, window_id) DO UPDATE
SET counts = excluded.counts, log = excluded.log, sliding = excluded.sliding
"""

_PAUSE = """
UPDATE shared_budgets
SET resume_at = greatest(
    resume_at, coalesce(%s::float8, extract(epoch FROM clock_timestamp())) + %s::float8
)
WHERE key = %s
"""

#: a run's own windows, once it has ended (`run_window_prefix`: 'run <id>/'); the pattern's
#: wildcards in a run id are escaped
_DROP = """
DELETE FROM shared_budget_windows WHERE key = %s AND window_id LIKE %s ESCAPE '\\'
"""

#: a window the server does not count where we assumed: sliding for every process
_SLIDING = """
UPDATE shared_budget_windows SET sliding = true, counts = '{}'
WHERE key = %s AND window_id = ANY(%s::text[])
"""


@dataclass
class WindowState:
    """One window counter as stored: fixed windows' counts by index, the send times."""

    counts: dict[int, int] = field(default_factory=dict)
    log: list[float] = field(default_factory=list)
    sliding: bool = False

    def encode(self) -> tuple[str, bytes, bool]:
        return (
            json.dumps({str(k): v for k, v in self.counts.items()}),
            array("d", self.log).tobytes(),
            self.sliding,
        )

    @classmethod
    def decode(cls, counts: str, log: bytes, sliding: bool) -> WindowState:
        times = array("d")
        times.frombytes(bytes(log))
        return cls({int(k): int(v) for k, v in json.loads(counts).items()}, list(times), sliding)


@dataclass
class Reserved:
    """What a budget computed inside a reservation: windows to write back."""

    windows: dict[str, WindowState]


#: compute(db_now, resume_at, states) -> the windows to write back
Compute = Callable[[float, float, dict[str, WindowState]], Reserved]


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise InvalidConfiguration(
            "a shared rate budget needs psycopg: pip install 'connector[postgresql]'",
            where="CONNECTOR_BUDGET",
        ) from None
    return psycopg


class BudgetStore:
    """One asynchronous connection to the budgets' database, for one event loop.

    `wall` replaces the database's clock (tests on simulated time); otherwise every time
    stored or compared is the database's `clock_timestamp()`, one clock for every process.
    """

    def __init__(self, url: str, where: str, *, wall: Callable[[], float] | None = None) -> None:
        self.url = url
        self.where = where
        self.wall = wall
        self._psycopg = _driver()
        self._conn: Any = None
        self._connecting = asyncio.Lock()
        self._known: set[str] = set()
        #: database round trips under way (simulated clocks must not jump meanwhile)
        self.in_flight = 0
        #: reservation transactions run (for benchmarks)
        self.transactions = 0

    def _failed(self, exc: BaseException, doing: str) -> TransportError:
        text = redact(" ".join(str(exc).split())) or type(exc).__name__
        return TransportError(
            f"the shared rate budget's database failed while {doing} ({text}); nothing was "
            "sent. Check that the PostgreSQL server of CONNECTOR_BUDGET/CONNECTOR_RUNLOG is "
            "running",
            where=self.where,
            write_applied=False,
        )

    async def _connection(self) -> Any:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        async with self._connecting:
            if self._conn is not None and not self._conn.closed:
                return self._conn
            self._known.clear()
            conn = await self._psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=10
            )
            try:
                # Counts for the next seconds, not records: a commit need not wait for the
                # disk (the tables are unlogged too; see ARCHITECTURE.md).
                await conn.execute("SET synchronous_commit TO off")
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    for statement in _SCHEMA:
                        await conn.execute(statement)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
            return conn

    async def _budget_row(self, conn: Any, key: str, app: str) -> None:
        if key not in self._known:
            await conn.execute(
                "INSERT INTO shared_budgets (key, app) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (key, app),
            )
            self._known.add(key)

    async def reserve(
        self, key: str, app: str, window_ids: Iterable[str], compute: Compute
    ) -> tuple[float, float]:
        """Run `compute` on the budget's state, locked; returns (db_now, resume_at) as
        `compute` saw them. A database failure is a TransportError (nothing was sent)."""
        ids = sorted(set(window_ids))
        self.in_flight += 1
        try:
            conn = await self._connection()
            await self._budget_row(conn, key, app)
            # Pipelined: BEGIN, the lock and the read go in one round trip, the writes
            # and COMMIT in another.
            async with conn.pipeline(), conn.transaction():
                locked = await conn.execute(_LOCK, (key,))
                read = await conn.execute(_READ, (key, ids))
                head = await locked.fetchone()
                if head is None:  # the row was deleted under us: make it again next time
                    self._known.discard(key)
                    raise self._psycopg.OperationalError(f"budget {key[:8]} vanished")
                rows = await read.fetchall()
                db_now, resume_at = float(head[0]), float(head[1])
                if self.wall is not None:
                    db_now = self.wall()
                states = {row[0]: WindowState.decode(row[1], row[2], row[3]) for row in rows}
                reserved = compute(db_now, resume_at, states)
                if reserved.windows:
                    async with conn.cursor() as cur:
                        await cur.executemany(
                            _WRITE_WINDOW,
                            [(key, wid, *s.encode()) for wid, s in reserved.windows.items()],
                        )
                self.transactions += 1
            return db_now, resume_at
        except self._psycopg.Error as exc:
            raise self._failed(exc, "reserving a request") from None
        except OSError as exc:
            raise self._failed(exc, "reserving a request") from None
        finally:
            self.in_flight -= 1

    async def pause(self, key: str, app: str, seconds: float, sliding: list[str]) -> None:
        """Every process's reservations wait until `seconds` from now (the database's);
        the windows named in `sliding` are counted sliding from now on, by everyone."""
        self.in_flight += 1
        try:
            conn = await self._connection()
            await self._budget_row(conn, key, app)
            now = self.wall() if self.wall is not None else None
            async with conn.transaction():
                if seconds > 0:
                    await conn.execute(_PAUSE, (now, seconds, key))
                if sliding:
                    await conn.execute(_SLIDING, (key, sliding))
        except (self._psycopg.Error, OSError) as exc:
            raise self._failed(exc, "sharing a throttle pause") from None
        finally:
            self.in_flight -= 1

    async def drop_windows(self, key: str, prefix: str) -> None:
        """Remove the budget's windows whose names start with `prefix` (a run's own)."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        self.in_flight += 1
        try:
            conn = await self._connection()
            await conn.execute(_DROP, (key, pattern))
        except (self._psycopg.Error, OSError) as exc:
            raise self._failed(exc, "removing a finished run's windows") from None
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()
