"""The tries of a composite's own requests, journaled with their call's attempts, so that a
call resumed on another worker goes on with each request's count and wait.

`RequestTries` (request_tries.py) counts a call's tries of each request; where the call is
journaled (a Temporal worker: attempt_journal.py) it keeps one of these beside it. Each
request has a journal row of its own, named by a digest of the request (its method, path,
query and body: their content stays out of the log), holding its tries: a try is written
before it is sent, and again if it fails, with the wait chosen. A success is not written:
one write per try, not two (measured in bench/composite_journal.py); a resumed call takes
a try with no answer recorded as lost, which it counts anyway, and what it costs is the
backoff after it, mostly gone by when another worker takes the activity over.

A call run again (its worker lost) hands the rows back (`resume`) before its handler runs:
a request goes on from the tries it had; a try with no answer is counted as lost (its
answer unknown, followed by the policy's backoff, as a lost attempt of the engine's is); a
wait under way is waited for only what is left of it; the request's last error is what the
call fails with should its tries be spent. The engine's attempt record the execution was
cut off in gets the tries made in it, since their log was never written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.clock import Clock
from connector.errors import ActionError, FatalError, TransportError

if TYPE_CHECKING:
    from connector.engine.attempt_journal import CallJournal
    from connector.engine.retry_policy import RandomSource, RetryPolicy

__all__ = ["RequestJournal", "request_digest"]

Tries = list[dict[str, Any]]


def request_digest(key: str) -> str:
    """The name of request `key`'s journal row."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RequestJournal:
    """One call's requests in the attempt journal (see the module doc)."""

    def __init__(self, calls: CallJournal, clock: Clock) -> None:
        self._calls = calls
        self._clock = clock
        #: request key -> (digest, its tries so far, as journaled)
        self.rows: dict[str, tuple[str, Tries]] = {}
        #: an earlier execution's tries not yet taken up: digest -> (label, tries)
        self._earlier: dict[str, tuple[str, Tries]] = {}
        #: request key -> (seconds, since: wall time): the wait an earlier execution chose
        self._waits: dict[str, tuple[float, float]] = {}

    def resume(
        self,
        earlier: Mapping[str, dict[str, Any]],
        lost: dict[str, Any] | None,
        policy: RetryPolicy,
        rng: RandomSource,
    ) -> None:
        """Take up the journaled tries of an earlier execution of the call (`earlier`:
        digest -> row); `lost` is the engine's attempt record it was cut off in."""
        for digest, state in earlier.items():
            tries = [t for t in state.get("tries") or () if isinstance(t, dict)]
            if not tries:
                continue
            label = str(state.get("request") or digest)
            last = tries[-1]
            if "result" not in last:
                # Sent, and no answer recorded: it counts, its answer unknown.
                last["result"] = "lost"
                last["wait"] = round(policy.backoff(int(last.get("try", 1)), rng), 3)
            for answered in tries[:-1]:
                # Tried again later in the same execution: it succeeded (not written), or was
                # cut off when the engine's attempt ended on another request's failure.
                answered.setdefault("result", "unrecorded")
            self._earlier[digest] = (label, tries)
            if lost is None:
                continue
            # The run log lists failures (and the lost try), as for an attempt that ended.
            shown = [
                _log_entry(label, t)
                for t in tries
                if t.get("attempt") == lost.get("attempt") and t["result"] in ("failed", "lost")
            ]
            if shown:
                lost.setdefault("requests", [])
                lost["requests"] += shown

    def take_up(self, key: str, label: str) -> tuple[int, ActionError] | None:
        """The first send of `key` in this execution: its journal row, and the tries an
        earlier execution made of it with the error the last ended with (None: none)."""
        digest = request_digest(key)
        label_then, tries = self._earlier.pop(digest, (label, []))
        self.rows[key] = (digest, tries)
        if not tries:
            return None
        last = tries[-1]
        since = last.get("ended_at", last.get("started_at"))
        # A wait refused (past the run's max_wait) is a wait too: what is left of it may
        # still be more than the run accepts.
        wait = last.get("wait") or last.get("refused_wait")
        if wait and isinstance(since, int | float):
            self._waits[key] = (float(wait), float(since))
        return int(last.get("try", len(tries))), _journaled_error(label_then, last)

    def wait_left(self, key: str) -> float | None:
        """What is left of the wait an earlier execution chose after the request's last
        try, once (None: no such wait)."""
        chosen = self._waits.pop(key, None)
        if chosen is None:
            return None
        wait, since = chosen
        return max(0.0, wait - (self._clock.wall() - since))

    def before_try(self, key: str, label: str, tried: int, attempt: int) -> None:
        """Before try `tried` is sent: a worker lost from here on still counts it."""
        digest, tries = self.rows[key]
        tries.append({"try": tried, "attempt": attempt, "started_at": self._clock.wall()})
        self._calls.save_request(digest, {"request": label, "tries": tries})

    def failed(self, key: str, entry: dict[str, Any], exc: ActionError) -> None:
        """After a failed try (`entry`: the log's, with the wait chosen): what a resumed call
        goes on waiting, and the error it ends with should the tries be spent."""
        digest, tries = self.rows[key]
        error = {"message": exc.message, "code": exc.code, "retry_after": exc.retry_after}
        error["write_applied"] = exc.write_applied
        tries[-1].update(entry, ended_at=self._clock.wall(), error=error)
        tries[-1].pop("request", None)
        self._calls.save_request(digest, {"request": entry["request"], "tries": tries})


def _log_entry(label: str, journaled: Mapping[str, Any]) -> dict[str, Any]:
    """A journaled try as the run log lists a request's tries."""
    entry = {"request": label, "try": journaled.get("try"), "result": journaled.get("result")}
    for name in ("status", "kind", "wait", "refused_wait"):
        if journaled.get(name) is not None:
            entry[name] = journaled[name]
    return entry


def _by_kind(cls: type[ActionError]) -> dict[str, type[ActionError]]:
    out = {cls.kind: cls}
    for sub in cls.__subclasses__():
        out.update(_by_kind(sub))
    return out


#: what a journaled failure is read back as, by its kind
_KINDS = _by_kind(ActionError)


def _journaled_error(label: str, last: Mapping[str, Any]) -> ActionError:
    """The error the request's last journaled try ended with."""
    if last.get("result") == "lost":
        return TransportError(
            f"{label}: try {last.get('try')} was cut off when its worker stopped; "
            "its answer is unknown"
        )
    found = last.get("error")
    error: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    cls = _KINDS.get(str(last.get("kind")), FatalError)
    return cls(
        str(error.get("message") or f"{label} failed"),
        status=last.get("status"),
        code=error.get("code"),
        retry_after=error.get("retry_after"),
        write_applied=error.get("write_applied"),
    )
