"""Each request's tries within one action call, counted across all of the call's attempts.

A composite action sends many requests in one call and retries each of them itself (a 30%
fault rate would otherwise fail nearly every call, and the engine's retry would send all of
them again). Were those inner retries counted apart from the engine's, one request could be
tried max_attempts times inside each of the engine's max_attempts attempts. So the engine
makes one `RequestTries` per call, from the policy the call runs under (the workflow's
`retry`, a step's override, the run's `--max-wait`) and its clock, and every retried request
of the call takes its tries from it:

- a request (method, path, query and body) is tried at most `max_attempts` times in the
  whole call, whichever level sends it;
- the waits between tries are the engine's (`retry_waits.py`): backoff, Retry-After, the
  shared budget's pause for a throttle, refused past `max_wait`, announced from LONG_WAIT;
- once a request's tries are spent (or its wait refused), `spent` holds why, and the engine
  does not retry the call: a retry could only send that request again.

The engine hands the object to the call's handlers through `CALL_TRIES`, a context variable
set around the call (as `connector.budget.PACING_WAITS` is around its pacing): the runner's
interface and the HTTP layer stay as they are, concurrent calls of a loop each see their
own, and tasks a handler starts (one per link of a report) inherit it. Outside the engine
(`connector actions run`, options, triggers) there is no outer retry, and a handler makes
its own from a default policy.

Where the call is journaled (a Temporal worker: attempt_journal.py), each request's tries are
journaled too (request_journal.py), and a call an earlier execution began (its worker lost)
goes on from them (`resume`). Without a journal (the embedded engine) none of that runs: no
digest, no write.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from connector.clock import Clock
from connector.engine.request_journal import RequestJournal
from connector.engine.retry_policy import RandomSource, RetryPolicy
from connector.engine.retry_waits import LONG_WAIT, WaitNotice, retry_wait, too_long, wait_reason
from connector.errors import ActionError, FatalError
from connector.redact import redact

if TYPE_CHECKING:
    from connector.engine.attempt_journal import CallJournal

__all__ = ["CALL_TRIES", "RequestTries", "request_key"]

#: methods whose tries can change the API's state
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

T = TypeVar("T")

#: the tries of the action call running in this context (set by the engine)
CALL_TRIES: ContextVar[RequestTries | None] = ContextVar("call_tries", default=None)


def request_key(
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
) -> tuple[str, str]:
    """A request's identity (what makes two sends the same request) and its label for the
    run log: method and path, plus a digest of the query and body when there are any (a
    batch's requests differ only there, and their content stays out of the log)."""
    label = f"{method.upper()} {path}"
    if not params and json_body is None:
        return label, redact(label)
    extra = json.dumps([params or {}, json_body], sort_keys=True, default=str)
    key = f"{label} {extra}"
    return key, redact(f"{label} #{hashlib.sha256(key.encode()).hexdigest()[:8]}")


class RequestTries:
    """One action call's tries of each of its requests (see the module doc)."""

    #: the engine's attempt under way, journaled with each try (set where it is journaled)
    attempt: int = 0
    _journal: RequestJournal | None = None

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Clock,
        rng: RandomSource | None = None,
        budget: object | None = None,
        max_wait: float | None = None,
        on_wait: WaitNotice | None = None,
        journal: CallJournal | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.rng: RandomSource = rng or random.Random()
        #: the app's shared rate budget (its throttle pause decides a throttle's wait)
        self.budget = budget
        self.limit = policy.wait_limit(max_wait)
        self.on_wait = on_wait
        self._tries: dict[str, int] = {}
        self._last: dict[str, ActionError] = {}
        #: writes one of whose tries may have been applied (it failed without proof that it
        #: was not): however their last try failed, whether the write landed is unknown
        self._maybe_applied: set[str] = set()
        self._log: list[dict[str, Any]] = []
        #: the error that ended a request's tries (out of tries, or a wait refused)
        self.spent: ActionError | None = None
        if journal is not None:  # (the class's None otherwise: nothing more per call)
            self._journal = RequestJournal(journal, clock)

    def tries(self, key: str) -> int:
        """How often the request `key` was sent in this call so far."""
        return self._tries.get(key, 0)

    def take_log(self) -> list[dict[str, Any]]:
        """The failed tries (and the success that ended a run of them) since last taken:
        what the engine records with the attempt they happened in."""
        log, self._log = self._log, []
        return log

    async def send(
        self,
        key: str,
        send: Callable[[], Awaitable[T]],
        *,
        label: str | None = None,
        halt: Callable[[], ActionError | None] | None = None,
    ) -> T:
        """`send()`'s result, tried until it succeeds, fails for good, or the request's
        tries in this call are spent; `halt()` naming an error stops before the next try
        (something shared with other requests made sending pointless)."""
        label = label or redact(key)
        journal = self._journal
        if journal is not None and key not in journal.rows:
            self._take_up(journal, key, label)
        while True:
            stop = halt() if halt is not None else None
            if stop is not None:
                raise stop
            done = self._tries.get(key, 0)
            if done >= self.policy.max_attempts:
                raise self._no_tries_left(key, label, done)
            if journal is not None:
                left = journal.wait_left(key)
                if left and self.limit is not None and left > self.limit:
                    raise self._wait_refused(key, left)
                if left:
                    await self.clock.sleep(left)
                    continue  # something may have halted the call meanwhile
                journal.before_try(key, label, done + 1, self.attempt)
            self._tries[key] = done + 1
            try:
                result = await send()
            except ActionError as exc:
                self._last[key] = exc
                if exc.write_applied is not False and key.split(" ", 1)[0] in _WRITES:
                    self._maybe_applied.add(key)
                wait, entry = self._after_failure(exc, label, done + 1)
                if journal is not None:
                    journal.failed(key, entry, exc)
                if wait is exc:
                    raise self._unknown_if_maybe_applied(key, exc) from None
                if isinstance(wait, ActionError):
                    raise self._unknown_if_maybe_applied(key, wait) from None
                if self.on_wait is not None and wait >= LONG_WAIT:
                    self.on_wait(wait, wait_reason(exc))
                await self.clock.sleep(wait)
                continue
            if self._last.pop(key, None) is not None:
                # It failed before: the log shows how that run of tries ended.
                self._log.append({"request": label, "try": done + 1, "result": "succeeded"})
            return result

    def _after_failure(
        self, exc: ActionError, label: str, tried: int
    ) -> tuple[float | ActionError, dict[str, Any]]:
        """The wait before the next try, or the error to raise instead (`exc`, or the
        refused wait's); and the failure's entry in the log."""
        entry: dict[str, Any] = {"request": label, "try": tried, "result": "failed"}
        entry.update({k: v for k, v in (("status", exc.status), ("kind", exc.kind)) if v})
        self._log.append(entry)
        if not exc.retryable:
            return exc, entry
        if tried >= self.policy.max_attempts:
            self.spent = exc
            return exc, entry
        wait = retry_wait(self.policy, tried, exc, self.rng, self.budget)
        if self.limit is not None and wait > self.limit:
            entry["refused_wait"] = round(wait, 3)
            self.spent = too_long(exc, wait, self.limit, wait_reason(exc), exc.where)
            return self.spent, entry
        entry["wait"] = round(wait, 3)
        return wait, entry

    def _unknown_if_maybe_applied(self, key: str, error: ActionError) -> ActionError:
        """`error`, but saying the write's fate is unknown when an earlier try of it may
        have landed: a last try refused before it was handled (a 503) proves nothing about
        a first one whose answer was lost, and the engine must read back, not resend or
        report the write as never made."""
        if key not in self._maybe_applied or error.write_applied is not False:
            return error
        unknown = copy.copy(error)
        unknown.write_applied = None
        if self.spent is error:
            self.spent = unknown
        return unknown

    def _wait_refused(self, key: str, left: float) -> ActionError:
        """What is left of an earlier execution's wait is more than the run accepts."""
        last = self._last[key]
        self.spent = too_long(last, left, self.limit or 0.0, wait_reason(last), last.where)
        self.spent.write_applied = False  # not sent again
        return self.spent

    def _no_tries_left(self, key: str, label: str, done: int) -> ActionError:
        """Asked to send a request whose tries in this call are all used: its last error,
        not sent again (so nothing of it applied now: a write's earlier tries are what a
        read-back settles, as after a resumed call's)."""
        last = self._last.get(key)
        if last is None:
            self.spent = FatalError(
                f"{label} was sent {done} times in this call already; "
                f"{self.policy.max_attempts} tries of one request at most"
            )
        else:
            self.spent = copy.copy(last)
            self.spent.write_applied = False
        return self.spent

    def resume(self, earlier: Mapping[str, dict[str, Any]], lost: dict[str, Any] | None) -> None:
        """Take up the tries an earlier execution of the call made of its requests, as
        journaled (request_journal.py); `lost` is the engine's attempt record it was cut off
        in, which is given the tries made in it (their log was never written)."""
        if self._journal is not None:
            self._journal.resume(earlier, lost, self.policy, self.rng)

    def _take_up(self, journal: RequestJournal, key: str, label: str) -> None:
        """The first send of `key` in this execution: where an earlier one left its tries."""
        earlier = journal.take_up(key, label)
        if earlier is not None:
            tried, error = earlier
            self._tries[key] = max(self._tries.get(key, 0), tried)
            self._last[key] = error
