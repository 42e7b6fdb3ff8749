"""The one exception hierarchy of the connector, grouped by what the runtime must do next.

    ConnectorError
    ├── InvalidConfiguration      a manifest, workflow, or setting is wrong; fix it, do not retry
    │   ├── MissingCredential     the app's credential variable is unset
    │   └── InvalidCredential     it is set, but holds what no HTTP header can carry
    ├── InvalidInput              a value the user supplied is wrong (type, option, template)
    │   └── TemplateError         a template failed: undefined path, syntax, sandbox escape
    ├── RunLogError               the run log cannot be opened, read or written
    ├── ExecutorUnavailable       the Temporal server cannot be reached, or ended the run
    ├── AlreadyRetried            the run was retried already: its child carries the lineage
    ├── EventTaken                a trigger event's run was started already (not started twice)
    └── ActionError               calling the API failed
        ├── RetryableError        try again after a wait
        │   ├── TransportError    network error or timeout (see `write_applied`)
        │   ├── ServerError       500/502/503/504
        │   └── Throttled         the API asked us to slow down (403 RATE_LIMIT_EXCEEDED, 429)
        └── FatalError            retrying cannot help
            ├── AuthenticationError   bad or missing credential (Bitly 403 FORBIDDEN, 401)
            ├── PermissionDenied      the key lacks a scope
            ├── NotFound              404
            ├── Gone                  410
            ├── UpgradeRequired       402: a paid plan is needed
            ├── InvalidRequest        400/409/422, with the API's field errors
            │   └── Conflict          409
            ├── QuotaExhausted        a monthly quota: waiting inside a run is pointless
            └── OutcomeUnknown        a write may have been applied and cannot be checked

Each class carries its policy as class attributes (`retryable`, `exit_code`), so the engine
and the CLI never match on messages. Lower-level errors (httpx, jsonschema, jinja2) are
translated into this tree in exactly one place per concern; none escapes unmapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from connector.redact import redact_message

__all__ = [
    "ActionError",
    "AlreadyRetried",
    "AuthenticationError",
    "Conflict",
    "ConnectorError",
    "EventTaken",
    "ExecutorUnavailable",
    "FatalError",
    "FieldError",
    "Gone",
    "InvalidConfiguration",
    "InvalidCredential",
    "InvalidInput",
    "InvalidRequest",
    "MissingCredential",
    "NotFound",
    "OutcomeUnknown",
    "PermissionDenied",
    "QuotaExhausted",
    "RetryableError",
    "RunLogError",
    "ServerError",
    "TemplateError",
    "Throttled",
    "TransportError",
    "UpgradeRequired",
]


@dataclass(frozen=True)
class FieldError:
    """One field-level complaint from the API or from input validation."""

    field: str
    message: str
    code: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""

    retryable: ClassVar[bool] = False
    #: process exit code when this error ends a CLI command
    exit_code: ClassVar[int] = 1
    #: short machine-readable category, written to run logs
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, where: str | None = None) -> None:
        # Masked once, here: a message may quote an input or a server's echo holding a
        # credential, whole or cut short, and it is printed, logged and stored from here on.
        message = redact_message(message)
        super().__init__(message)
        self.message = message
        #: what the error is about: a file and field, an action id, an input key
        self.where = None if where is None else redact_message(where)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description, for run logs and `--json` output."""
        return {"kind": self.kind, "type": type(self).__name__, "message": str(self)}


class InvalidConfiguration(ConnectorError):
    """A manifest, workflow or setting is wrong."""

    exit_code = 2
    kind = "invalid_configuration"


class MissingCredential(InvalidConfiguration):
    """The credential an app needs is not set."""

    kind = "missing_credential"


class InvalidCredential(InvalidConfiguration):
    """A credential is set but holds a control or non-ASCII character."""

    kind = "invalid_credential"


class InvalidInput(ConnectorError):
    """A value supplied for an action or workflow is wrong."""

    exit_code = 2
    kind = "invalid_input"


class TemplateError(InvalidInput):
    """A template could not be rendered safely."""

    kind = "template_error"


class RunLogError(ConnectorError):
    """The run log is damaged, read-only, or its disk is full; nothing more is sent."""

    exit_code = 2
    kind = "run_log"


class ExecutorUnavailable(ConnectorError):
    """The distributed executor (a Temporal server) cannot be reached, or it ended the run
    for a reason of its own (terminated, timed out); the run log says what was done."""

    exit_code = 2
    kind = "executor"


class AlreadyRetried(ConnectorError):
    """A run is retried into at most one child; this one has it already."""

    kind = "already_retried"

    def __init__(self, message: str, *, child_run_id: str, where: str | None = None) -> None:
        super().__init__(message, where=where)
        self.child_run_id = child_run_id


class EventTaken(ConnectorError):
    """A trigger's event started its run already (connector/engine/trigger_log.py)."""

    kind = "event_taken"


class ActionError(ConnectorError):
    """Calling the API failed; the subclass says whether retrying can help."""

    kind = "action_error"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        status: int | None = None,
        code: str | None = None,
        description: str | None = None,
        field_errors: list[FieldError] | None = None,
        retry_after: float | None = None,
        write_applied: bool | None = None,
    ) -> None:
        super().__init__(message, where=where)
        #: HTTP status, None when no response arrived
        self.status = status
        #: the API's machine code (Bitly's `message`, shorten.dev's `error`)
        self.code = code
        #: the API's human text
        self.description = None if description is None else redact_message(description)
        self.field_errors = field_errors or []
        #: seconds the server asked us to wait (Retry-After or a throttle window)
        self.retry_after = retry_after
        #: False: provably not applied (refused, throttled); True: applied; None: unknown
        self.write_applied = write_applied

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(
            status=self.status,
            code=self.code,
            description=self.description,
            field_errors=[
                {"field": f.field, "message": f.message, "code": f.code} for f in self.field_errors
            ],
            retry_after=self.retry_after,
            write_applied=self.write_applied,
        )
        return out


class RetryableError(ActionError):
    """Trying again after a wait may succeed."""

    retryable = True
    kind = "retryable"


class TransportError(RetryableError):
    """No usable response: connection refused or dropped, or a timeout."""

    kind = "transport"


class ServerError(RetryableError):
    """The API answered 5xx."""

    kind = "server_error"


class Throttled(RetryableError):
    """The API asked us to slow down; `retry_after` says for how long when known."""

    kind = "throttled"


class FatalError(ActionError):
    """Retrying the same request cannot succeed."""

    kind = "fatal"


class AuthenticationError(FatalError):
    kind = "authentication"


class PermissionDenied(FatalError):
    kind = "permission_denied"


class NotFound(FatalError):
    kind = "not_found"


class Gone(FatalError):
    kind = "gone"


class UpgradeRequired(FatalError):
    kind = "upgrade_required"


class InvalidRequest(FatalError):
    kind = "invalid_request"


class Conflict(InvalidRequest):
    kind = "conflict"


class QuotaExhausted(FatalError):
    """A monthly or plan quota is used up; it will not reopen within a run."""

    kind = "quota_exhausted"


class OutcomeUnknown(FatalError):
    """A non-idempotent write may have been applied, and there is no way to check it.

    Retrying could create a duplicate, so the engine stops here and says so.
    """

    kind = "outcome_unknown"
