"""Each call's attempts, journaled in the run log as they are made, so that a run resumed by
another worker (a Temporal activity run again after its worker was lost) continues the
attempt count and the backoff where they stood instead of starting them again.

The journal row of a call (run, step, item, sub-step) holds its attempts so far: written
before each attempt is sent (the new one with no result yet) and after a failed one with
the wait chosen before the next. A resumed call reads it back (`attempts.call_action`): the
attempts made count against the policy's `max_attempts`, an attempt with no result is
taken as lost with its worker (its answer unknown: a guarded write is read back through
its open intent, never resent blindly), and a wait under way is waited only for what is
left of it. Once a call's item or step is recorded, its attempts are in that row and the
journal row is dropped (a range's rows at once; a run's when it ends).

A composite action retries its own requests inside the call (request_tries.py); each such
request has a row of its own beside the call's, its sub-step the call's plus REQUEST_MARK and
a digest of the request (`request_sub_step`): its tries, written before each is sent and
after each failure with the wait chosen. A resumed call reads them back with its own
attempts, so a request is tried at most `max_attempts` times across every execution of the
call. The same drops forget them (they match the call's run, step and item).

Commits that outlive the worker, not the intents' power-cut-proof `durable()`: a worker's
death is what this survives (SQLite's WAL keeps a killed process's commits; PostgreSQL,
another process, has the commit once it answers, so it does not wait for its disk:
`Store.quick_commit`), and a commit per attempt that waits for a disk would slow
every item.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from connector.engine.runlog_errors import translated
from connector.redact import dumps_redacted

if TYPE_CHECKING:
    from connector.engine.runlog import RunLog
    from connector.engine.runlog_store import Store
    from connector.engine.writes import WriteTarget

__all__ = [
    "ATTEMPTS_SCHEMA",
    "REQUEST_MARK",
    "RESUMING",
    "AttemptJournal",
    "CallJournal",
    "FirstAttemptsJournal",
    "request_sub_step",
]

#: whether the calls under way may have been begun by an earlier execution (a Temporal
#: activity run again: its `attempt` > 1); a first execution skips reading the journal,
#: since nothing can be there yet: one write per attempt, no read
RESUMING: ContextVar[bool] = ContextVar("RESUMING", default=True)

ATTEMPTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS call_attempts (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    sub_step TEXT NOT NULL,
    attempts_json TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, step_id, idx, sub_step)
);
"""

_KEY = "run_id=? AND step_id=? AND idx=? AND sub_step=?"

#: between a call's sub-step and a request's digest in a request's row: never in a step id
REQUEST_MARK = "/"


def request_sub_step(sub_step: str, digest: str) -> str:
    """The sub-step of the journal row of a request (named by `digest`) of the call at
    `sub_step` ("" for a step, or a loop body's step id)."""
    return f"{sub_step}{REQUEST_MARK}{digest}"


_SAVE = (
    "INSERT INTO call_attempts (run_id, step_id, idx, sub_step, attempts_json, updated_at)"
    " SELECT ?, ?, ?, ?, ?, ? {quick_commit} ON CONFLICT (run_id, step_id, idx, sub_step)"
    " DO UPDATE SET attempts_json=excluded.attempts_json, updated_at=excluded.updated_at"
)


class AttemptJournal:
    """The journal of one run log (same connection). An engine has one only where its runs
    may be resumed elsewhere (a Temporal worker); an embedded run is never resumed (a
    retry is a new run, with its own attempts), so it writes none."""

    def __init__(self, runlog: RunLog) -> None:
        self._log = runlog

    @property
    def store(self) -> Store:
        return self._log.store

    def for_call(self, target: WriteTarget, now: Any) -> CallJournal:
        """The journal of the call at `target` (its run, step, item and sub-step);
        `now()` gives the wall time written with each entry."""
        key = (target.run_id, target.step_id, target.index, target.sub_step)
        return CallJournal(self, key, now)

    @translated("reading a call's earlier attempts")
    def load(self, key: tuple[Any, ...]) -> list[dict[str, Any]]:
        row = self.store.execute(
            f"SELECT attempts_json FROM call_attempts WHERE {_KEY}", key
        ).fetchone()
        if row is None:
            return []
        attempts = json.loads(row[0])
        return attempts if isinstance(attempts, list) else []

    @translated("journaling a call's attempt")
    def save(self, key: tuple[Any, ...], attempts: list[dict[str, Any]], at: float) -> None:
        sql = _SAVE.format(quick_commit=self.store.quick_commit)
        self.store.execute(sql, (*key, dumps_redacted(attempts), at))

    @translated("reading a call's earlier request tries")
    def load_requests(self, key: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
        """The journaled tries of the requests of the call at `key`, by request digest."""
        run_id, step_id, idx, sub_step = key
        prefix = request_sub_step(sub_step, "")
        # The item's rows are few (its calls and their requests): filtered here rather than
        # by a prefix match, whose LIKE escapes and collations differ between the databases.
        rows = self.store.execute(
            "SELECT sub_step, attempts_json FROM call_attempts"
            " WHERE run_id=? AND step_id=? AND idx=?",
            (run_id, step_id, idx),
        ).fetchall()
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            name = str(row[0])
            if name.startswith(prefix):
                state = json.loads(row[1])
                if isinstance(state, dict):
                    out[name[len(prefix) :]] = state
        return out

    @translated("journaling a request's try")
    def save_request(
        self, key: tuple[Any, ...], digest: str, state: dict[str, Any], at: float
    ) -> None:
        run_id, step_id, idx, sub_step = key
        sql = _SAVE.format(quick_commit=self.store.quick_commit)
        row_key = (run_id, step_id, idx, request_sub_step(sub_step, digest))
        self.store.execute(sql, (*row_key, dumps_redacted(state), at))

    @translated("dropping journaled attempts")
    def drop_range(self, run_id: str, step_id: str, start: int, stop: int) -> None:
        """Forget the calls of items [start, stop) of a loop (their rows hold them now)."""
        self.store.execute(
            "DELETE FROM call_attempts WHERE run_id=? AND step_id=? AND idx>=? AND idx<?",
            (run_id, step_id, start, stop),
        )

    @translated("dropping journaled attempts")
    def drop_run(self, run_id: str, step_id: str | None = None) -> None:
        """Forget a run's calls (of one step only, when given)."""
        if step_id is None:
            self.store.execute("DELETE FROM call_attempts WHERE run_id=?", (run_id,))
        else:
            self.store.execute(
                "DELETE FROM call_attempts WHERE run_id=? AND step_id=?", (run_id, step_id)
            )


class CallJournal:
    """One call's journal: what `call_action` reads when it starts and writes as it goes."""

    def __init__(self, journal: AttemptJournal, key: tuple[Any, ...], now: Any) -> None:
        self._journal = journal
        self._key = key
        self._now = now

    def earlier(self) -> list[dict[str, Any]]:
        """The attempts an earlier execution of this call made (none for a first one)."""
        return self._journal.load(self._key) if RESUMING.get() else []

    def save(self, attempts: list[dict[str, Any]]) -> None:
        self._journal.save(self._key, attempts, self._now())

    def requests(self) -> dict[str, dict[str, Any]]:
        """The tries an earlier execution made of this call's own requests, by digest."""
        return self._journal.load_requests(self._key) if RESUMING.get() else {}

    def save_request(self, digest: str, state: dict[str, Any]) -> None:
        """Journal the tries of one of the call's requests (before a try, after a failure)."""
        self._journal.save_request(self._key, digest, state, self._now())


def _from_rows(store: Store, rows: str) -> str:
    """`FROM rows` with the store's quick commit joined in (`quick_commit` is either a bare
    `WHERE true` or `FROM <subquery> AS quick WHERE true`)."""
    quick = store.quick_commit
    if quick.startswith("FROM "):
        return f"FROM {rows}, {quick[len('FROM ') :]}"
    return f"FROM {rows} {quick}"


#: the fields of a first attempt as journaled ahead: a plain send, no result yet
_AS_AHEAD = frozenset({"attempt", "started_at"})


class FirstAttemptsJournal(AttemptJournal):
    """The journal of a worker that runs loop items in ranges: the first attempts of the
    items about to start are journaled together, in one statement (`first_attempts`),
    instead of one round trip per item as each call starts.

    Journaled ahead is the same promise: attempt 1 of each of those calls is durable before
    its request leaves. The call's own first save finds it done and writes nothing; every
    later save (a failure's wait, the next attempt) is written as before. An item journaled
    ahead whose worker is lost before it starts reads, when resumed, as one attempt lost,
    exactly as a call whose worker died between its journal write and its send: counted,
    never sent twice (a write is read back through its intent, and none was made)."""

    def __init__(self, runlog: RunLog) -> None:
        super().__init__(runlog)
        #: calls whose first attempt is journaled and not yet claimed by the call
        self._ahead: set[tuple[Any, ...]] = set()

    @translated("journaling calls' first attempts")
    def first_attempts(
        self, run_id: str, step_id: str, sub_step: str, indexes: list[int], at: float
    ) -> None:
        """Journal attempt 1 ("about to be sent") of loop items `indexes`' calls of
        `sub_step`, in one statement. A call with a row already keeps it (DO NOTHING)
        and is not taken as journaled ahead."""
        if not indexes:
            return
        attempts = dumps_redacted([{"attempt": 1, "started_at": at}])
        rows = self.store.execute(
            f"WITH chosen(idx) AS ({self.store.int_list})"
            " INSERT INTO call_attempts"
            " (run_id, step_id, idx, sub_step, attempts_json, updated_at)"
            f" SELECT ?, ?, chosen.idx, ?, ?, ? {_from_rows(self.store, 'chosen')}"
            " ON CONFLICT (run_id, step_id, idx, sub_step) DO NOTHING RETURNING idx",
            (json.dumps(indexes), run_id, step_id, sub_step, attempts, at),
        ).fetchall()
        self._ahead.update((run_id, step_id, int(row[0]), sub_step) for row in rows)

    def forget_ahead(self, run_id: str, step_id: str, indexes: list[int], sub_step: str) -> None:
        """Stop taking these calls as journaled ahead (their range ended; a call not made
        keeps its row until the range's rows are dropped)."""
        for idx in indexes:
            self._ahead.discard((run_id, step_id, idx, sub_step))

    def for_call(self, target: WriteTarget, now: Any) -> CallJournal:
        key = (target.run_id, target.step_id, target.index, target.sub_step)
        return _AheadCallJournal(self, key, now)

    def claim(self, key: tuple[Any, ...]) -> bool:
        """Whether the call at `key` had its first attempt journaled ahead (once only)."""
        if key in self._ahead:
            self._ahead.discard(key)
            return True
        return False


class _AheadCallJournal(CallJournal):
    """A call whose first attempt may have been journaled ahead (FirstAttemptsJournal)."""

    def __init__(self, journal: FirstAttemptsJournal, key: tuple[Any, ...], now: Any) -> None:
        super().__init__(journal, key, now)
        self._ahead = journal

    def save(self, attempts: list[dict[str, Any]]) -> None:
        first = len(attempts) == 1 and attempts[0].get("attempt") == 1
        # Only attempt 1 of a plain send, as journaled ahead; a read-back first (an open
        # intent) or anything later is written now, over the row journaled ahead.
        if self._ahead.claim(self._key) and first and set(attempts[0]) <= _AS_AHEAD:
            return
        super().save(attempts)
