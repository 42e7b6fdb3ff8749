"""Typed views of manifests, built from dicts already validated by manifest.schema.json.

The schema is the single source of truth for what a manifest may hold; these dataclasses only
give the runtime attribute access. `SCHEMA_FIELDS` maps each schema definition to the
dataclass fields it fills, and a test checks that mapping against the schema, so the two
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = [
    "MISSING",
    "ActionRateLimit",
    "ActionSpec",
    "AppSpec",
    "Bucket",
    "ErrorBody",
    "ErrorRule",
    "InputSpec",
    "Note",
    "Option",
    "RateLimits",
    "RequestSpec",
    "SandboxSpec",
    "action_from_dict",
    "app_from_dict",
]


class _Missing:
    """Marks an input without a default (None is a legitimate default)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


@dataclass(frozen=True)
class Option:
    label: str
    value: Any


@dataclass(frozen=True)
class InputSpec:
    key: str
    label: str
    type: str
    required: bool = False
    format: str | None = None
    description: str | None = None
    default: Any = MISSING
    example: Any = MISSING
    options: tuple[Option, ...] = ()
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    items: dict[str, Any] | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    @property
    def option_values(self) -> list[Any]:
        return [o.value for o in self.options]


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class ActionRateLimit:
    bucket: str
    cost_input: str | None = None


@dataclass(frozen=True)
class Note:
    question: str
    answer: str


@dataclass(frozen=True)
class ActionSpec:
    app: str
    key: str
    name: str
    description: str
    kind: str
    idempotent: bool
    inputs: tuple[InputSpec, ...]
    request: RequestSpec | None
    handler: str | None
    reconcile: str | None
    rate_limit: ActionRateLimit | None
    output_schema: dict[str, Any]
    output_sample: Any
    sample_request: dict[str, Any]
    notes: tuple[Note, ...]
    source: Path | None = None
    #: operationIds a handler calls (declared in the manifest; see `catalog.export`)
    operations: tuple[str, ...] = ()
    #: largest successful response body read (None: the HTTP layer's default)
    max_response_bytes: int | None = None
    #: the paid-plan feature a premium operation needs (None: the action needs no paid plan)
    plan_feature: str | None = None
    #: a list request's paging (items, next, limit, page_size, max_page_size); None: one page
    pagination: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return f"{self.app}.{self.key}"

    def input(self, key: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.key == key), None)

    @property
    def input_keys(self) -> list[str]:
        return [i.key for i in self.inputs]


@dataclass(frozen=True)
class ErrorBody:
    code: str
    description: str
    field_errors: str | None = None


@dataclass(frozen=True)
class ErrorRule:
    statuses: tuple[int, ...]
    error: str
    code: str | None = None
    code_pattern: str | None = None
    header: str | None = None
    retry_after_default: float | None = None


@dataclass(frozen=True)
class Bucket:
    per_minute: int | None = None
    per_hour: int | None = None


@dataclass(frozen=True)
class RateLimits:
    concurrency: int
    per_minute: int | None = None
    per_hour: int | None = None
    buckets: dict[str, Bucket] = field(default_factory=dict)


@dataclass(frozen=True)
class SandboxSpec:
    command: str
    base_url: str


@dataclass(frozen=True)
class AppSpec:
    name: str
    description: str
    base_url: str
    base_url_env: str
    credential_env: str
    credential_scheme: str
    error_body: ErrorBody
    errors: tuple[ErrorRule, ...]
    rate_limits: RateLimits
    sandbox: SandboxSpec
    #: the directory name, which prefixes action ids
    key: str = ""
    source: Path | None = None


# Schema definition -> {schema property: dataclass field}. Checked against the schema by a test.
SCHEMA_FIELDS: Final[dict[str, tuple[type, dict[str, str]]]] = {
    "app": (
        AppSpec,
        {
            "name": "name",
            "description": "description",
            "base_url": "base_url",
            "base_url_env": "base_url_env",
            "credential": "credential_env",
            "error_body": "error_body",
            "errors": "errors",
            "rate_limits": "rate_limits",
            "sandbox": "sandbox",
        },
    ),
    "credential": (AppSpec, {"env": "credential_env", "scheme": "credential_scheme"}),
    "error_body": (ErrorBody, {k: k for k in ("code", "description", "field_errors")}),
    "error_rule": (
        ErrorRule,
        {"status": "statuses"}
        | {k: k for k in ("code", "code_pattern", "header", "error", "retry_after_default")},
    ),
    "rate_limits": (
        RateLimits, {k: k for k in ("concurrency", "per_minute", "per_hour", "buckets")}
    ),
    "bucket": (Bucket, {"per_minute": "per_minute", "per_hour": "per_hour"}),
    "sandbox": (SandboxSpec, {"command": "command", "base_url": "base_url"}),
    "action": (
        ActionSpec,
        {
            k: k
            for k in (
                "key", "name", "description", "kind", "idempotent", "inputs", "request",
                "handler", "reconcile", "rate_limit", "sample_request", "notes", "operations",
                "max_response_bytes", "plan_feature", "pagination",
            )
        }
        | {"output": "output_schema"},
    ),
    "output": (ActionSpec, {"schema": "output_schema", "sample": "output_sample"}),
    "input": (
        InputSpec,
        {
            k: k
            for k in (
                "key", "label", "type", "format", "required", "description", "default",
                "example", "options", "min", "max", "pattern", "items",
            )
        },
    ),
    "option": (Option, {"label": "label", "value": "value"}),
    "request": (RequestSpec, {k: k for k in ("method", "path", "query", "body")}),
    "action_rate_limit": (ActionRateLimit, {"bucket": "bucket", "cost_input": "cost_input"}),
    "note": (Note, {"question": "question", "answer": "answer"}),
}  # fmt: skip


def _input_from_dict(d: dict[str, Any]) -> InputSpec:
    return InputSpec(
        key=d["key"],
        label=d["label"],
        type=d["type"],
        required=bool(d.get("required", False)),
        format=d.get("format"),
        description=d.get("description"),
        default=d.get("default", MISSING),
        example=d.get("example", MISSING),
        options=tuple(Option(o["label"], o["value"]) for o in d.get("options", ())),
        min=d.get("min"),
        max=d.get("max"),
        pattern=d.get("pattern"),
        items=d.get("items"),
    )


def action_from_dict(app: str, d: dict[str, Any], source: Path | None = None) -> ActionSpec:
    """Build an ActionSpec from a dict valid against `$defs/action`."""
    req = d.get("request")
    rate = d.get("rate_limit")
    return ActionSpec(
        app=app,
        key=d["key"],
        name=d["name"],
        description=d["description"],
        kind=d["kind"],
        idempotent=d["idempotent"],
        inputs=tuple(_input_from_dict(i) for i in d["inputs"]),
        request=(
            RequestSpec(req["method"], req["path"], dict(req.get("query") or {}), req.get("body"))
            if req
            else None
        ),
        handler=d.get("handler"),
        reconcile=d.get("reconcile"),
        rate_limit=ActionRateLimit(rate["bucket"], rate.get("cost_input")) if rate else None,
        output_schema=d["output"]["schema"],
        output_sample=d["output"]["sample"],
        sample_request=d["sample_request"],
        notes=tuple(Note(n["question"], n["answer"]) for n in d["notes"]),
        source=source,
        operations=tuple(d.get("operations", ())),
        max_response_bytes=d.get("max_response_bytes"),
        plan_feature=d.get("plan_feature"),
        pagination=d.get("pagination"),
    )


def app_from_dict(key: str, d: dict[str, Any], source: Path | None = None) -> AppSpec:
    """Build an AppSpec from a dict valid against `$defs/app`."""
    rl = d["rate_limits"]
    return AppSpec(
        name=d["name"],
        description=d["description"],
        base_url=d["base_url"],
        base_url_env=d["base_url_env"],
        credential_env=d["credential"]["env"],
        credential_scheme=d["credential"]["scheme"],
        error_body=ErrorBody(**d["error_body"]),
        errors=tuple(
            ErrorRule(
                statuses=tuple(r["status"]) if isinstance(r["status"], list) else (r["status"],),
                error=r["error"],
                code=r.get("code"),
                code_pattern=r.get("code_pattern"),
                header=r.get("header"),
                retry_after_default=r.get("retry_after_default"),
            )
            for r in d["errors"]
        ),
        rate_limits=RateLimits(
            concurrency=rl["concurrency"],
            per_minute=rl.get("per_minute"),
            per_hour=rl.get("per_hour"),
            buckets={k: Bucket(**v) for k, v in (rl.get("buckets") or {}).items()},
        ),
        sandbox=SandboxSpec(**d["sandbox"]),
        key=key,
        source=source,
    )
