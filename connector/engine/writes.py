"""Duplicate-write safety: a write is sent once per intended item, whatever happens.

Each action says in its manifest (`write_safety.strategy`) how the engine can know whether
a write whose answer was lost took effect:

- `resend`: repeating the request is harmless (reads; Bitly dedups a shortened URL; a PATCH
  sets values). Retried like any idempotent call.
- `read_back`: the request names its target, and the action's `reconcile` hook reads it
  back: the output when the write landed, None when it provably did not, `OutcomeUnknown`
  when it cannot tell (never taken as "not applied").
- `client_key`: as `read_back`, and when the input named by `key_input` is empty the engine
  fills it with a key of its own before the request is first sent (a shorten.dev slug), so
  every write names its target and a resend of the same key cannot create a second thing.
- `outcome_unknown`: nothing can tell; a lost answer stops the item, and the user decides
  (`connector runs retry RUN --resolve ITEM=applied|not-applied`).

For every write of a guarded action (any strategy but `resend`) the run log holds an
intent, committed durably before the request leaves and keyed by the retry lineage, the
step, the item and the inputs; its outcome is recorded after. Any later run of the lineage
that meets the same write takes an applied one's output instead of sending it, checks an
open one (no outcome, or unknown) before anything else, and resends only what provably
did not land.
"""

from __future__ import annotations

import enum
import hashlib
import json
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector.errors import ActionError, InvalidConfiguration, InvalidInput, OutcomeUnknown
from connector.redact import redact

if TYPE_CHECKING:
    from connector.engine.attempts import CallOutcome
    from connector.engine.intents import IntentLog

__all__ = [
    "STRATEGIES",
    "WriteDecision",
    "WriteSafety",
    "WriteTarget",
    "decide",
    "fill_keys",
    "guarded_call",
    "new_key",
    "outcome_unknown",
    "parse_resolutions",
    "write_safety",
]

STRATEGIES = ("resend", "read_back", "client_key", "outcome_unknown")
RESOLUTIONS = {"applied": "applied", "not-applied": "not_applied", "not_applied": "not_applied"}
_KEY_ALPHABET = string.ascii_letters + string.digits
#: the length of a client key: shorten.dev's own random slugs are 7 characters
KEY_LENGTH = 7


class WriteDecision(enum.Enum):
    RETRY = "retry"
    RECONCILE = "reconcile"
    STOP = "stop"


@dataclass(frozen=True)
class WriteSafety:
    """How an action's lost writes are resolved (the manifest's `write_safety`)."""

    strategy: str = "resend"
    #: client_key: the input the engine fills with its key when empty; `links[].custom_slug`
    #: names a field of each object of an array input
    key_input: str | None = None

    @property
    def guarded(self) -> bool:
        """Whether each write is recorded as an intent before it is sent."""
        return self.strategy != "resend"

    @property
    def can_check(self) -> bool:
        return self.strategy in ("read_back", "client_key")


def write_safety(action: Any) -> WriteSafety:
    """The action's declared strategy; undeclared: from `idempotent` and `reconcile`."""
    declared = getattr(action, "write_safety", None)
    if isinstance(declared, WriteSafety):
        return declared
    if isinstance(declared, Mapping):
        return WriteSafety(str(declared.get("strategy")), declared.get("key_input"))
    if declared is not None:  # the catalog's WriteSafetySpec
        return WriteSafety(str(declared.strategy), getattr(declared, "key_input", None))
    # Shared values (frozen): asked for every item of a loop, twice.
    if getattr(action, "idempotent", False):
        return _RESEND
    return _READ_BACK if getattr(action, "reconcile", None) else _OUTCOME_UNKNOWN


_RESEND = WriteSafety("resend")
_READ_BACK = WriteSafety("read_back")
_OUTCOME_UNKNOWN = WriteSafety("outcome_unknown")


def decide(safety: WriteSafety, error: ActionError) -> WriteDecision:
    """What to do after a retryable error, as far as duplicate writes are concerned."""
    if not safety.guarded or error.write_applied is False:
        return WriteDecision.RETRY
    return WriteDecision.RECONCILE if safety.can_check else WriteDecision.STOP


def outcome_unknown(action_id: str, error: ActionError, *, where: str | None) -> OutcomeUnknown:
    applied = "was applied" if error.write_applied else "may have been applied"
    exc = OutcomeUnknown(
        f"{action_id} is not idempotent and the request {applied} ({error.message}); "
        "it was not retried, to avoid a duplicate write, and the action has no way to check "
        "the outcome. Check the target, then retry the run with "
        "--resolve ITEM=applied or --resolve ITEM=not-applied.",
        where=where,
        status=error.status,
        code=error.code,
        description=error.description,
        write_applied=error.write_applied,
    )
    return exc


# -- where a write belongs ------------------------------------------------------------------


@dataclass(frozen=True)
class WriteTarget:
    """One intended write: the lineage (the first run of a retry chain), step, loop item
    (-1 for an action step) and loop sub-step ("" when the body is one action)."""

    lineage: str
    run_id: str
    step_id: str
    index: int = -1
    sub_step: str = ""
    #: the user's word on an earlier unknown outcome: "applied" or "not_applied"
    resolution: str | None = None

    @property
    def item_label(self) -> str:
        return self.step_id if self.index < 0 else f"{self.step_id}[{self.index}]"

    @property
    def label(self) -> str:
        return self.item_label + (f".{self.sub_step}" if self.sub_step else "")


def parse_resolutions(pairs: Mapping[str, str] | list[str] | None) -> dict[str, str]:
    """`{"each[3]": "applied"}` or `["each[3]=not-applied"]` -> label -> state."""
    if not pairs:
        return {}
    items = pairs.items() if isinstance(pairs, Mapping) else [_split(p) for p in pairs]
    out: dict[str, str] = {}
    for label, value in items:
        state = RESOLUTIONS.get(str(value).strip().lower())
        if state is None or not str(label).strip():
            raise InvalidInput(
                f"expected ITEM=applied or ITEM=not-applied, got {label}={value}",
                where="--resolve",
            )
        out[str(label).strip()] = state
    return out


def _split(pair: str) -> tuple[str, str]:
    label, sep, value = pair.rpartition("=")
    if not sep:
        raise InvalidInput(
            f"expected ITEM=applied or ITEM=not-applied (e.g. each[3]=applied), got {pair!r}",
            where="--resolve",
        )
    return label, value


# -- client keys ------------------------------------------------------------------------------


def new_key() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_LENGTH))


def fill_keys(
    inputs: dict[str, Any], key_input: str | None, keys: Any = None
) -> tuple[dict[str, Any], Any]:
    """`inputs` with the key input filled where empty (by `keys` from an earlier intent,
    else new keys); returns them and the keys used (None where the user gave a value)."""
    if not key_input:
        return inputs, None
    array, sep, field = key_input.partition("[].")
    if not sep:
        if inputs.get(key_input):
            return inputs, None
        key = keys if isinstance(keys, str) and keys else new_key()
        return {**inputs, key_input: key}, key
    items = inputs.get(array)
    if not isinstance(items, list):
        return inputs, None
    earlier = keys if isinstance(keys, list) else []
    filled: list[Any] = []
    used: list[str | None] = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and not item.get(field):
            key = earlier[i] if i < len(earlier) and earlier[i] else new_key()
            filled.append({**item, field: key})
            used.append(key)
        else:
            filled.append(item)
            used.append(None)
    return {**inputs, array: filled}, used


def fingerprint(action_id: str, inputs: Mapping[str, Any]) -> str:
    """Which write this is: the action and its inputs as rendered, before any client key.
    Hashed from the masked text, so a credential among the inputs never reaches the file."""
    text = redact(json.dumps([action_id, inputs], sort_keys=True, default=str))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# -- the guarded call ---------------------------------------------------------------------------

Send = Callable[[dict[str, Any], bool], Awaitable["CallOutcome"]]


async def guarded_call(
    *,
    intents: IntentLog,
    action_id: str,
    safety: WriteSafety,
    inputs: dict[str, Any],
    target: WriteTarget,
    send: Send,
    now: Callable[[], float],
    where: str | None,
) -> CallOutcome:
    """Send one guarded write at most once across the lineage (see the module docstring).

    `send(inputs, reconcile_first)` runs the attempts; with `reconcile_first` it checks
    the earlier write before sending anything.
    """
    from connector.engine.attempts import CallOutcome

    fp = fingerprint(action_id, inputs)
    intent = intents.get(target, fp)
    is_open = intent is not None and intent.state in ("pending", "unknown")
    # An open write is sent again (if at all) under its first key, so that a duplicate is
    # refused by the API; one that provably failed (a slug taken by someone) gets new keys.
    keys = intent.keys if intent is not None and is_open else None
    reconcile_first = False
    if intent is not None and intent.state == "applied":
        note = _note("applied_earlier", intent.run_id, now)
        return CallOutcome(output=intent.output, attempts=[note])
    if intent is not None and is_open:
        if target.resolution == "applied":
            intents.resolve(target, fp, "applied", run_id=target.run_id, at=now())
            note = _note("resolved_applied", intent.run_id, now)
            return CallOutcome(output=intent.output, attempts=[note])
        if target.resolution is None:
            if not safety.can_check:
                intents.resolve(target, fp, "unknown", run_id=target.run_id, at=now())
                error = OutcomeUnknown(
                    f"{action_id}: an earlier attempt (run {intent.run_id}) may have been "
                    "applied, and the action has no way to check; it is not sent again. "
                    f"Check the target, then retry with --resolve {target.item_label}=applied "
                    f"or --resolve {target.item_label}=not-applied.",
                    where=where,
                )
                return CallOutcome(error=error, attempts=[_note("unknown", intent.run_id, now)])
            reconcile_first = True
    sent, keys = fill_keys(inputs, safety.key_input, keys)
    intents.record(target, fp, action_id, sent, keys, at=now())
    outcome = await send(sent, reconcile_first)
    state = _state_of(outcome)
    intents.finish(target, fp, state, output=outcome.output, error=outcome.error, at=now())
    return outcome


def _state_of(outcome: CallOutcome) -> str:
    """What the run log says happened to the write after the call."""
    error = outcome.error
    if error is None:
        return "applied"
    if outcome.unresolved or isinstance(error, OutcomeUnknown):
        # A write whose answer was lost and was never checked: whatever came after (a
        # failed read-back, a refused resend) says nothing about it.
        return "unknown"
    if isinstance(error, ActionError):
        if error.write_applied is False:
            return "not_applied"
        return "applied" if error.write_applied else "unknown"
    # Raised by the runner before sending (a path it could not build, a missing credential).
    if isinstance(error, InvalidInput | InvalidConfiguration):
        return "not_applied"
    return "unknown"


def _note(result: str, run_id: str, now: Callable[[], float]) -> dict[str, Any]:
    at = now()
    return {"attempt": 0, "call": "intent", "result": result, "run_id": run_id,
            "started_at": at, "ended_at": at, "duration_ms": 0.0}  # fmt: skip
