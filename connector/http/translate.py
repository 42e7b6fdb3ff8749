"""Turn httpx responses and exceptions into the connector's exception hierarchy.

This is the one place where that happens, for every app. What an app's statuses and codes
mean is data: the `errors` table of its `app.yaml` (first match wins), and `error_body`,
which says where the API puts its machine code, its human text and its field errors.
Anything the table does not cover falls back to the meaning of the status code alone.

`write_applied` says whether a write can have happened: False when the request was provably
refused (connect failures, throttles, 4xx, 503), None when nobody can tell (a connection cut
after the request was sent, 500/502/504).
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from connector import errors as E
from connector.catalog.model_errors import describe_errors
from connector.catalog.models import ErrorBody, ErrorRule
from connector.redact import redact

__all__ = [
    "DEFAULT_THROTTLE_WINDOW",
    "ErrorBody",
    "ErrorRule",
    "Translator",
    "body_head",
    "error_class",
    "parse_retry_after",
    "snippet",
]

#: Seconds to wait after a throttle that names no Retry-After: the finest window either API
#: documents is a minute (Bitly's per-minute limit is a tenth of the hourly one).
DEFAULT_THROTTLE_WINDOW = 60.0
_SNIPPET = 160
#: bytes of an error body looked at for a message
_SCAN = 64 * 1024
#: an error body larger than this is not parsed as JSON (no API sends such an error)
MAX_ERROR_JSON = 1024 * 1024
_BLOCK = re.compile(r"<(script|style)\b")
_TAG = re.compile(r"<[^<>]*>")  # stops at the next '<': linear on unclosed tags
_SECONDS = re.compile(r"[+-]?\d+(\.\d+)?", re.ASCII)


def _field(obj: Any, key: str, default: Any = None) -> Any:
    """Read `key` from a mapping or an attribute, whichever the catalog model is."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _kinds() -> dict[str, type[E.ActionError]]:
    found: dict[str, type[E.ActionError]] = {}
    stack: list[type[E.ActionError]] = [E.ActionError]
    while stack:
        cls = stack.pop()
        found[cls.kind] = cls
        stack.extend(cls.__subclasses__())
    return found


_KINDS = _kinds()


def error_class(kind: str) -> type[E.ActionError]:
    """The ActionError subclass whose `kind` is `kind` (as named in an app's error table)."""
    try:
        return _KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(_KINDS))
        raise E.InvalidConfiguration(f"unknown error kind {kind!r}; known: {known}") from None


#: where an error body is read when an app names nothing (Bitly's layout)
_BODY = {"code": "message", "description": "description", "field_errors": "errors"}


def _rules(rows: Iterable[Any]) -> tuple[ErrorRule, ...]:
    """The app's error table as models (rows read from a manifest already are)."""
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(row if isinstance(row, ErrorRule) else ErrorRule.model_validate(row))
        except ValidationError as exc:
            problems = "; ".join(f"{f}: {m}" for f, m in describe_errors(ErrorRule, exc))
            raise E.InvalidConfiguration(f"error table row {i}: {problems}") from None
    return tuple(out)


def _matches(rule: ErrorRule, status: int, code: str | None, headers: httpx.Headers) -> bool:
    if status not in rule.statuses:
        return False
    if rule.code is not None and code != rule.code:
        return False
    if rule.code_pattern is not None and (code is None or not re.search(rule.code_pattern, code)):
        return False
    return rule.header is None or rule.header in headers


# What a status means when no table row matched.
_BY_STATUS: dict[int, type[E.ActionError]] = {
    400: E.InvalidRequest,
    401: E.AuthenticationError,
    402: E.UpgradeRequired,
    403: E.PermissionDenied,
    404: E.NotFound,
    409: E.Conflict,
    410: E.Gone,
    422: E.InvalidRequest,
    429: E.Throttled,
}

# Nothing reached the server: the request was provably not applied.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.LocalProtocolError)


def _by_status(status: int) -> type[E.ActionError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return E.ServerError
    return E.InvalidRequest if 400 <= status < 500 else E.FatalError


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from `now` (epoch): delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        seconds = float(text)
    else:  # not "inf", "1e9" or "1_0": delta-seconds are digits
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def body_head(response: httpx.Response) -> str:
    """The start of a body as text: enough for a message, never a whole 50 MB page."""
    head = response.content[:_SCAN]
    return head.decode(response.encoding or "utf-8", errors="replace")


def _drop_blocks(text: str) -> str:
    """Remove <script>/<style> blocks in one pass (an unclosed one drops the rest)."""
    lowered = text.lower()
    parts: list[str] = []
    at = 0
    while (opening := _BLOCK.search(lowered, at)) is not None:
        parts.append(text[at : opening.start()])
        closing = lowered.find("</" + opening.group(1), opening.end())
        if closing < 0:
            return " ".join(parts)
        end = lowered.find(">", closing)
        at = len(text) if end < 0 else end + 1
    parts.append(text[at:])
    return " ".join(parts)


def snippet(text: str) -> str:
    """A short, single-line, tag-stripped extract of a non-JSON body.

    Linear in the input (a lazy `<script>.*?</script>` regex is quadratic on a page of
    unclosed tags) and reads at most its first 64 KiB.
    """
    text = _drop_blocks(text[:_SCAN])
    text = _TAG.sub(" ", text)
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."


def _field_errors(value: Any) -> list[E.FieldError]:
    """Bitly lists `[{field, message, error_code}]`; shorten.dev maps `{field: message}`."""
    out: list[E.FieldError] = []
    if isinstance(value, Mapping):
        for name, message in value.items():
            out.append(E.FieldError(str(name), str(message)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping):
                out.append(
                    E.FieldError(
                        str(item.get("field", "?")),
                        str(item.get("message", item.get("error_code", ""))),
                        str(item["error_code"]) if item.get("error_code") else None,
                    )
                )
            else:
                out.append(E.FieldError("?", str(item)))
    return out


class Translator:
    """Translates one app's failures; built from its AppSpec (`errors`, `error_body`)."""

    def __init__(
        self,
        app: str,
        rules: Iterable[ErrorRule | Mapping[str, Any]],
        body: ErrorBody | Mapping[str, Any] | None = None,
        *,
        credential_env: str | None = None,
        wall: Callable[[], float] = time.time,
        plan_features: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.rules = _rules(rules)
        #: the error class of each rule, looked up once
        self._classes = tuple(error_class(r.error) for r in self.rules)
        self.body = body if isinstance(body, ErrorBody) else ErrorBody.model_validate(body or _BODY)
        self.credential_env = credential_env
        self._wall = wall
        #: action id -> the paid-plan feature it needs, named when the plan refuses it (402)
        self.plan_features = dict(plan_features or {})

    @classmethod
    def for_app(
        cls,
        app_spec: Any,
        *,
        wall: Callable[[], float] = time.time,
        plan_features: Mapping[str, str] | None = None,
    ) -> Translator:
        return cls(
            str(_field(app_spec, "name", "app")),
            _field(app_spec, "errors", None) or (),
            _field(app_spec, "error_body"),
            credential_env=_field(app_spec, "credential_env"),
            wall=wall,
            plan_features=plan_features,
        )

    # -- responses -------------------------------------------------------------------------

    def from_response(self, response: httpx.Response, action_id: str) -> E.ActionError:
        """The error an unsuccessful (non-2xx) response stands for."""
        status = response.status_code
        parsed = _json_or_none(response)
        code = description = None
        fields: list[E.FieldError] = []
        text = ""
        if isinstance(parsed, Mapping):
            code = _str_or_none(parsed.get(self.body.code))
            description = _str_or_none(parsed.get(self.body.description))
            if self.body.field_errors:
                fields = _field_errors(parsed.get(self.body.field_errors))
        else:
            text = snippet(body_head(response)) if response.content else ""
        found = self._rule(status, code, response.headers)
        rule, cls = found if found else (None, _by_status(status))
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall())
        if retry_after is None and issubclass(cls, E.Throttled):
            default = rule.retry_after_default if rule else None
            retry_after = default if default is not None else DEFAULT_THROTTLE_WINDOW
        message = self._message(cls, response, code, description, fields, text, retry_after)
        if issubclass(cls, E.UpgradeRequired):
            message += self._plan_hint(action_id)
        return cls(
            redact(message),
            where=action_id,
            status=status,
            code=redact(code) if code else None,
            description=redact(description) if description else None,
            field_errors=[E.FieldError(f.field, redact(f.message), f.code) for f in fields],
            retry_after=retry_after,
            write_applied=False if status < 500 or status == 503 else None,
        )

    def _rule(
        self, status: int, code: str | None, headers: httpx.Headers
    ) -> tuple[ErrorRule, type[E.ActionError]] | None:
        """The first rule matching, and its error class."""
        for rule, cls in zip(self.rules, self._classes, strict=True):
            if _matches(rule, status, code, headers):
                return rule, cls
        return None

    def _message(
        self,
        cls: type[E.ActionError],
        response: httpx.Response,
        code: str | None,
        description: str | None,
        fields: list[E.FieldError],
        text: str,
        retry_after: float | None,
    ) -> str:
        head = f"{self.app} answered HTTP {response.status_code}"
        if response.reason_phrase:
            head += f" {response.reason_phrase}"
        parts = [head]
        if code:
            parts.append(code)
        if description and description != code:
            parts.append(description)
        if fields:
            parts.append("field errors: " + "; ".join(str(f) for f in fields))
        if text:
            ctype = response.headers.get("content-type", "no content type").split(";")[0]
            parts.append(f"non-JSON body ({ctype}): {text!r}")
        message = ": ".join(parts[:2]) + "".join(f" ({p})" for p in parts[2:])
        return message + _hint(cls, self.credential_env, retry_after)

    def _plan_hint(self, action_id: str) -> str:
        feature = self.plan_features.get(action_id)
        if feature is None:
            return f"; the {self.app} plan of this account does not include this feature"
        return (
            f"; {action_id} needs the paid-plan feature {feature}, which the {self.app} plan "
            "of this account does not include: upgrade the plan or use an account that has it"
        )

    # -- exceptions ------------------------------------------------------------------------

    def from_exception(self, exc: Exception, action_id: str) -> E.ConnectorError:
        """The error an httpx exception (or any failure to get a response) stands for."""
        detail = redact(f"{type(exc).__name__}: {exc}".rstrip(": "))
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return E.InvalidConfiguration(
                f"the {self.app} base URL or request URL is invalid ({detail})", where=action_id
            )
        if isinstance(exc, httpx.LocalProtocolError):
            # httpx refused to write the request (an illegal header value, say): nothing was
            # sent, and the same request would be refused again, so retrying cannot help.
            return E.FatalError(
                f"could not send the request to {self.app}: it is not valid HTTP ({detail})",
                where=action_id,
                write_applied=False,
            )
        if isinstance(exc, _NOT_SENT):
            return E.TransportError(
                f"could not reach {self.app}, the request was not sent ({detail})",
                where=action_id,
                write_applied=False,
            )
        if isinstance(exc, httpx.TimeoutException):
            what = "timed out waiting for"
        elif isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
            what = "lost the connection to"
        else:
            what = "got no usable response from"
        return E.TransportError(
            f"{what} {self.app} after sending the request; it may or may not have been "
            f"applied ({detail})",
            where=action_id,
            write_applied=None,
        )


def _hint(cls: type[E.ActionError], credential_env: str | None, retry_after: float | None) -> str:
    if issubclass(cls, E.AuthenticationError) and credential_env:
        return f"; check the credential in {credential_env}"
    if issubclass(cls, E.Throttled) and retry_after is not None:
        return f"; retry after {retry_after:g}s"
    if issubclass(cls, E.QuotaExhausted):
        return "; the quota will not reopen within this run"
    return ""


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content or len(response.content) > MAX_ERROR_JSON:
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)
