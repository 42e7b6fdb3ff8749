"""The catalog's model: an app manifest (`app.yaml`) and an action manifest, in pydantic v2.

These models are the single source of truth for what a manifest may hold. The JSON Schema
shipped in the package (`schema/manifest.schema.json`) is generated from them by
`python -m connector.catalog.schema_gen`, and a test fails when the committed file differs.
Every object rejects unknown keys; scalars are strict (YAML's `yes` is not a boolean here).

Not part of a manifest, set by the loader: an action's app and source file, the app it
belongs to (for app-level notes and shared output shapes), and its compiled input plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

__all__ = [
    "MANIFEST",
    "MISSING",
    "ActionRateLimit",
    "ActionSpec",
    "AppSpec",
    "Bucket",
    "Credential",
    "ErrorBody",
    "ErrorKind",
    "ErrorRule",
    "InputSpec",
    "Note",
    "Option",
    "OptionsFrom",
    "OutputSpec",
    "PaginationSpec",
    "RateLimits",
    "RequestSpec",
    "SandboxSpec",
    "TriggerSpec",
    "optional_fields",
]


class _Missing:
    """Marks an input without a default (None is a legitimate default)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()
#: validation context of a manifest read from a file (see Model._no_nulls)
MANIFEST: Final = "manifest"

Text = Annotated[str, Strict()]
NonEmpty = Annotated[str, Strict(), Field(min_length=1)]
Flag = Annotated[bool, Strict()]
Count = Annotated[int, Strict(), Field(ge=1)]
EnvName = Annotated[str, Strict(), Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
Key = Annotated[str, Strict(), Field(pattern=KEY_PATTERN)]
# module:function; a leading dot makes the module relative to the app's handler package
Dotted = Annotated[
    str,
    Strict(),
    Field(pattern=r"^\.?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"),
]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regular expression ({exc})") from None
    return value


Regex = Annotated[
    str, Strict(), AfterValidator(_regex), WithJsonSchema({"type": "string", "format": "regex"})
]
JsonSchemaDoc = Annotated[dict[str, Any], Strict()]

ErrorKind = Literal[
    "throttled", "quota_exhausted", "authentication", "permission_denied", "not_found", "gone",
    "upgrade_required", "invalid_request", "conflict", "server_error",
]  # fmt: skip
InputType = Literal[
    "string", "text", "number", "integer", "boolean", "options", "multi-select", "array",
    "object", "url", "datetime",
]  # fmt: skip


def _scalar(value: Any) -> Any:
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"{value!r} is not of type 'string', 'integer', 'number', 'boolean'")


def _statuses(value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("[] should be non-empty")
    for item in items:
        if type(item) is not int:
            raise ValueError(f"{item!r} is not of type 'integer'")
        if not 400 <= item <= 599:
            raise ValueError(f"{item} is not an HTTP error status (400-599)")
    return value


def _unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(set(values)) != len(values):
        raise ValueError(f"{list(values)!r} has non-unique elements")
    return values


def _number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ValueError(f"{value!r} is not of type 'number'")


def _body(value: Any) -> Any:
    if value is None or isinstance(value, dict | list | str):
        return value
    raise ValueError(f"{value!r} is not of type 'object', 'array', 'string'")


def _by_alias(cls: type[BaseModel], alias: str) -> Any:
    return next((f for f in cls.model_fields.values() if f.alias == alias), None)


_STATUS = {"type": "integer", "minimum": 400, "maximum": 599}
Status = Annotated[
    Any,
    AfterValidator(_statuses),
    WithJsonSchema({"oneOf": [_STATUS, {"type": "array", "minItems": 1, "items": _STATUS}]}),
]
Scalar = Annotated[
    Any,
    AfterValidator(_scalar),
    WithJsonSchema({"type": ["string", "integer", "number", "boolean"]}),
]
# int or float as written: a bound of 1 stays 1 in the schemas and messages derived from it
Bound = Annotated[Any, AfterValidator(_number), WithJsonSchema({"type": "number"})]
Body = Annotated[
    Any, AfterValidator(_body), WithJsonSchema({"type": ["object", "array", "string"]})
]


class Model(BaseModel):
    """Base of every manifest object: unknown keys are errors, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any, info: ValidationInfo) -> Any:
        # In a manifest file an optional key is absent or holds a value, as the generated
        # JSON Schema says: `handler: null` is refused, not read as "no handler". (Code
        # building a model may pass None for "not set".)
        if isinstance(data, dict) and info.context == MANIFEST:
            for name, value in data.items():
                field = cls.model_fields.get(name) or _by_alias(cls, name)
                if value is None and field is not None and field.default is None:
                    raise ValueError(f"'{name}' is null; give a value or leave the key out")
        return data


# ---------------------------------------------------------------- app manifest


class CredentialTest(Model):
    """The cheap authenticated call that proves a credential works (a saved connection is
    tested with it)."""

    model_config = ConfigDict(
        title="Credential test", json_schema_extra={"examples": [{"action": "get_user"}]}
    )

    action: Key = Field(description="An idempotent action of this app, by key.")
    inputs: dict[Key, Any] = Field(
        default_factory=dict, description="Its inputs (keep the call small: one item)."
    )


class Credential(Model):
    """Where the credential comes from and how it is sent."""

    model_config = ConfigDict(title="Credential")

    env: EnvName = Field(
        description="Environment variable holding the token or key.", examples=["BITLY_TOKEN"]
    )
    scheme: Literal["bearer"] = Field(
        description="How it is sent: bearer = `Authorization: Bearer <value>`."
    )
    test: CredentialTest | None = Field(
        None,
        description="How a credential is checked when a connection is saved; without it a "
        "connection is stored untested.",
    )


class ErrorBody(Model):
    """Field names of the API's JSON error body."""

    model_config = ConfigDict(
        title="Error body",
        json_schema_extra={
            "examples": [
                {"code": "message", "description": "description", "field_errors": "errors"}
            ]
        },
    )

    code: Text = Field(
        description="Field holding the machine code (Bitly: message, shorten.dev: error)."
    )
    description: Text = Field(description="Field holding the human text.")
    field_errors: Text | None = Field(
        default=None,
        description="Field holding per-field errors: a list of {field, message} or a mapping "
        "field -> message.",
    )


class ErrorRule(Model):
    """One row of the error table; every condition given must hold."""

    model_config = ConfigDict(title="Error rule")

    status: Status = Field(
        description="HTTP status, or a list of statuses, the rule applies to.",
        examples=[429, [500, 502, 503, 504]],
    )
    code: Text | None = Field(
        default=None, description="Exact machine code the error body must carry."
    )
    code_pattern: Regex | None = Field(
        default=None,
        description="Regular expression searched in the machine code.",
        examples=["MONTHLY"],
    )
    header: Text | None = Field(default=None, description="Response header that must be present.")
    error: ErrorKind = Field(
        description="`kind` of the connector.errors class raised.", examples=["throttled"]
    )
    retry_after_default: Annotated[float, Strict(), Field(ge=0)] | None = Field(
        default=None,
        description="Seconds to wait when the response carries no Retry-After header "
        "(the throttle window).",
    )

    @property
    def statuses(self) -> frozenset[int]:
        return frozenset(self.status if isinstance(self.status, list) else (self.status,))


class Bucket(Model):
    """A budget shared by the actions that name it."""

    model_config = ConfigDict(
        title="Rate bucket", json_schema_extra={"minProperties": 1, "examples": [{"per_hour": 300}]}
    )

    per_minute: Count | None = Field(default=None, description="Units a minute.")
    per_hour: Count | None = Field(default=None, description="Units an hour.")


class RateLimits(Model):
    """Budgets shared by every call to the app. Actions without rate_limit.bucket count
    against the app-wide windows; actions naming a bucket count against that bucket instead.
    The engine paces by a RateLimitSpec built from these (connector/engine/rate_limits.py)."""

    model_config = ConfigDict(title="Rate limits")

    concurrency: Count = Field(description="Most requests in flight at once.", examples=[5])
    per_second: Count | None = Field(
        default=None, description="Requests a second; absent means not limited."
    )
    per_minute: Count | None = Field(
        default=None, description="Requests a minute; absent means not limited."
    )
    per_hour: Count | None = Field(
        default=None, description="Requests an hour; absent means not limited."
    )
    per_month: Count | None = Field(
        default=None, description="Requests a calendar month (UTC); absent means not limited."
    )
    windows: Literal["fixed", "sliding"] = Field(
        default="sliding",
        description="How the API counts its windows: fixed = calendar windows aligned on the "
        "clock (a minute starts at :00), sliding = at most N in any interval of the window's "
        "length. Sliding (the default) is safe under any alignment; fixed uses each window's "
        "allowance as soon as it opens.",
        examples=["fixed"],
    )
    learn: Annotated[str, Strict(), Field(pattern=r"^\.?[A-Za-z_][A-Za-z0-9_.]*$")] | None = Field(
        default=None,
        description="Python module that reads the account's real limits from the API "
        "(functions platform_limits, plan_limits, plan_use); its figures replace "
        "per_minute/per_hour; a leading dot makes it relative to the app's handler package.",
        examples=[".limits"],
    )
    buckets: dict[str, Bucket] = Field(
        default_factory=dict,
        description="Named budgets for groups of endpoints (e.g. link creation).",
    )


class SandboxSpec(Model):
    """How to reach the app's local sandbox server."""

    model_config = ConfigDict(title="Sandbox")

    command: Text = Field(
        description="Command that starts it.",
        examples=["connector sandbox serve bitly --seed demo"],
    )
    base_url: Annotated[str, Strict(), Field(pattern=r"^http://")] = Field(
        description="Base URL it serves the API at.", examples=["http://127.0.0.1:8411/v4"]
    )


class Note(Model):
    """One FAQ entry."""

    model_config = ConfigDict(title="Note")

    question: NonEmpty = Field(
        description="The question.", examples=["Can I run it in a Loop over many items?"]
    )
    answer: NonEmpty = Field(description="The answer.")


class AppSpec(Model):
    """manifests/<app>/app.yaml: how to reach one API and how it answers."""

    model_config = ConfigDict(title="App manifest")

    name: NonEmpty = Field(
        description="Human name of the app, shown by builders.", examples=["Bitly"]
    )
    description: NonEmpty = Field(description="One or two sentences on what the app is.")
    base_url: Annotated[str, Strict(), Field(pattern=r"^https?://[^\s/]+(/\S*)?[^/\s]$")] = Field(
        description="Base URL of the real API, no trailing slash; request paths are appended.",
        examples=["https://api-ssl.bitly.com/v4"],
    )
    base_url_env: EnvName = Field(
        description="Environment variable that overrides base_url (a sandbox or a proxy).",
        examples=["BITLY_API_URL"],
    )
    credential: Credential
    error_body: ErrorBody
    errors: tuple[ErrorRule, ...] = Field(
        min_length=1,
        description="Error table: the first rule matching a non-2xx response decides the error "
        "class.",
    )
    rate_limits: RateLimits
    sandbox: SandboxSpec
    notes: tuple[Note, ...] = Field(
        default=(),
        description="FAQ notes that hold for every action of the app (errors, loops, rate "
        "limits): shown after each action's own notes.",
    )
    shapes: dict[Key, JsonSchemaDoc] = Field(
        default_factory=dict,
        description="JSON Schemas shared by several actions' outputs, by name; an output schema "
        "refers to one as {$ref: '#/$defs/<name>'}.",
        examples=[{"bitlink": {"type": "object", "properties": {"id": {"type": "string"}}}}],
        # pydantic checks the names; JSON Schema says so with propertyNames
        json_schema_extra={"propertyNames": {"pattern": KEY_PATTERN}},
    )

    _key: str = PrivateAttr("")
    _source: Path | None = PrivateAttr(None)

    def bind(self, key: str, source: Path | None = None) -> None:
        """Attach what the manifest does not say: its directory name and its file."""
        self._key, self._source = key, source
        self.__dict__.pop("key", None)

    @cached_property  # private attributes are slow to read; this one is read per call
    def key(self) -> str:
        """The directory name, which prefixes action ids."""
        return self._key

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def credential_env(self) -> str:
        return self.credential.env

    @property
    def credential_scheme(self) -> str:
        return self.credential.scheme


# ---------------------------------------------------------------- action manifest


class Option(Model):
    """One allowed value of an options or multi-select input."""

    model_config = ConfigDict(
        title="Option", json_schema_extra={"examples": [{"label": "Day", "value": "day"}]}
    )

    label: NonEmpty = Field(description="What the builder shows.")
    value: Scalar = Field(description="What the action receives.")


ActionId = Annotated[str, Strict(), Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")]
# a dotted path into JSON (groups, references.group); empty: the value itself
JsonPath = Annotated[
    str, Strict(), Field(pattern=r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$")
]


class OptionsFrom(Model):
    """Where an input's options come from: another action's output, read when a builder
    draws the field (connector/catalog/options.py)."""

    model_config = ConfigDict(
        title="Options from",
        json_schema_extra={
            "examples": [
                {
                    "action": "bitly.list_groups",
                    "items": "groups",
                    "label": "name",
                    "value": "guid",
                },
                {"action": "bitly.list_group_tags", "items": "tags", "depends_on": ["group_guid"]},
            ]
        },
    )

    action: ActionId = Field(
        description="Id of the action whose output lists the options (a search).",
        examples=["bitly.list_groups"],
    )
    items: JsonPath = Field(
        description="Dotted path of the list in that action's output.", examples=["groups"]
    )
    label: JsonPath = Field(
        default="", description="Dotted path of the label in each item; empty: the item itself."
    )
    value: JsonPath = Field(
        default="", description="Dotted path of the value in each item; empty: the item itself."
    )
    depends_on: Annotated[tuple[Key, ...], AfterValidator(_unique)] = Field(
        default=(),
        description="Inputs of this action passed, by the same name, to the options action: "
        "the options change when they do, and cannot be listed before they are given.",
        examples=[["group_guid"]],
        json_schema_extra={"uniqueItems": True},
    )
    search: Key | None = Field(
        default=None,
        description="Input of the options action that takes the search text; when absent, "
        "the options are filtered by label here (case-insensitive).",
    )
    include: tuple[Option, ...] = Field(
        default=(), description="Fixed options listed before the loaded ones (bit.ly)."
    )


class InputSpec(Model):
    """One field of the action's form."""

    model_config = ConfigDict(title="Input")

    key: Key = Field(
        description="Name of the input, used in templates as inputs.<key>.", examples=["bitlink"]
    )
    label: NonEmpty = Field(description="Field label the builder shows.", examples=["Bitlink"])
    type: InputType = Field(
        description='Declared type; values are coerced to it ("7" -> 7, "true" -> true).'
    )
    format: Literal["bitlink"] | None = Field(
        default=None,
        description="Extra normalisation: bitlink accepts https://bit.ly/x, bit.ly/x/ and "
        "bit.ly/x and yields domain/hash.",
    )
    required: Flag = Field(
        default=False, description="Whether a value must be given (a default counts)."
    )
    description: Text | None = Field(default=None, description="Help text under the field.")
    default: Any = Field(default=MISSING, description="Value used when none is given.")
    example: Any = Field(default=MISSING, description="A realistic value, shown as a placeholder.")
    options: tuple[Option, ...] = Field(
        default=(), min_length=1, description="Allowed values, for options and multi-select."
    )
    min: Bound | None = Field(
        default=None,
        description="Lower bound: the value (number, integer), the length (string, text) or "
        "the item count (array, multi-select).",
    )
    max: Bound | None = Field(
        default=None, description="Upper bound, with the same meaning as min."
    )
    pattern: Regex | None = Field(
        default=None, description="Regular expression a string value must match."
    )
    items: JsonSchemaDoc | None = Field(
        default=None,
        description="JSON Schema of each item, for array inputs (e.g. {type: string, "
        "maxLength: 50}).",
    )
    options_from: OptionsFrom | None = Field(
        default=None,
        description="Dynamic options: another action lists the values a builder offers "
        "(groups, domains, tags...).",
    )

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    @property
    def option_values(self) -> list[Any]:
        return [o.value for o in self.options]


class RequestSpec(Model):
    """A declarative HTTP request; every string may hold <<inputs.x>> templates. A query or
    body key whose template names an absent optional input is dropped."""

    model_config = ConfigDict(title="Request")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(description="HTTP method.")
    path: Annotated[str, Strict(), Field(pattern=r"^/")] = Field(
        description="Path relative to the app base URL; {name} is filled from the input of that "
        "name, percent-encoded.",
        examples=["/bitlinks/{bitlink}"],
    )
    query: dict[str, Any] = Field(default_factory=dict, description="Query parameters.")
    body: Body = Field(
        default=None, description="JSON body: an object, or one template yielding the whole body."
    )


class ActionRateLimit(Model):
    """Which budget of the app the action draws on."""

    model_config = ConfigDict(title="Action rate limit")

    bucket: Text = Field(
        description="Name of a bucket in the app's rate_limits.buckets.", examples=["creation"]
    )
    cost_input: Text | None = Field(
        default=None,
        description="Array input whose length is the call's cost (a bulk create costs one per "
        "link); the cost is 1 otherwise.",
    )


class WriteSafetySpec(Model):
    """How the engine learns whether a write whose answer was lost took effect, so that it is
    never sent twice. Undeclared: resend for idempotent actions, else read_back with a
    reconcile function, else outcome_unknown."""

    model_config = ConfigDict(
        title="Write safety",
        json_schema_extra={"examples": [{"strategy": "client_key", "key_input": "custom_slug"}]},
    )

    strategy: Literal["resend", "read_back", "client_key", "outcome_unknown"] = Field(
        description="resend: repeating the request is harmless. read_back: the reconcile "
        "function reads the target back. client_key: as read_back, and the engine fills "
        "key_input with a key of its own when empty, so every write names its target. "
        "outcome_unknown: nothing can tell; the item stops and the user resolves it."
    )
    key_input: (
        Annotated[str, Strict(), Field(pattern=r"^[a-z][a-z0-9_]*(\[\]\.[a-z][a-z0-9_]*)?$")] | None
    ) = Field(
        default=None,
        description="For client_key: the input the engine fills (custom_slug), or a field of "
        "each object of an array input (links[].custom_slug).",
        examples=["custom_slug", "links[].custom_slug"],
    )


class TriggerSpec(Model):
    """How a trigger's events arrive and are told apart (connector/triggers). A polling
    trigger's handler polls; a webhook trigger's handler parses one delivery, and its
    subscribe/unsubscribe functions register the receiving URL with the API."""

    model_config = ConfigDict(
        title="Trigger",
        json_schema_extra={
            "examples": [
                {"event_id": "id"},
                {
                    "type": "webhook",
                    "event_id": "event_id",
                    "subscribe": ".webhooks:subscribe_link_clicked",
                    "unsubscribe": ".webhooks:unsubscribe_link_clicked",
                },
            ],
            "if": {"properties": {"type": {"const": "webhook"}}, "required": ["type"]},
            "then": {"required": ["subscribe", "unsubscribe"]},
            "else": {
                "not": {"anyOf": [{"required": ["subscribe"]}, {"required": ["unsubscribe"]}]}
            },
        },
    )

    type: Literal["polling", "webhook"] = Field(
        default="polling",
        description="polling: the handler is called on an interval with the previous state. "
        "webhook: the API calls a URL of the service per event; the handler parses a delivery.",
    )
    event_id: JsonPath = Field(
        description="Dotted path of the field that identifies an event; no poll returns an "
        "id twice, and a webhook delivery retried with the same id starts one run.",
        examples=["id"],
    )
    subscribe: Dotted | None = Field(
        default=None,
        description="Webhook triggers: module:function(ctx, inputs, url) that registers `url` "
        "with the API when the trigger is enabled; returns what unsubscribe needs.",
    )
    unsubscribe: Dotted | None = Field(
        default=None,
        description="Webhook triggers: module:function(ctx, inputs, subscription) that removes "
        "the registration when the trigger is disabled.",
    )

    @model_validator(mode="after")
    def _webhook_functions(self) -> Self:
        given = (self.subscribe is not None, self.unsubscribe is not None)
        if self.type == "webhook" and given != (True, True):
            raise ValueError("a webhook trigger names both subscribe and unsubscribe")
        if self.type == "polling" and any(given):
            raise ValueError("subscribe and unsubscribe are for type: webhook only")
        return self


class OutputSpec(Model):
    """What the action returns."""

    model_config = ConfigDict(
        title="Output",
        json_schema_extra={
            "examples": [
                {
                    "schema": {"type": "object", "properties": {"id": {"type": "string"}}},
                    "sample": {"id": "bit.ly/abc1234"},
                },
                {"schema": {"$ref": "#/$defs/bitlink"}, "sample": {"id": "bit.ly/abc1234"}},
            ]
        },
    )

    schema_: JsonSchemaDoc = Field(
        alias="schema",
        description="JSON Schema (2020-12) of the output; '#/$defs/<name>' may name one of the "
        "app's shapes.",
    )
    sample: Any = Field(description="A realistic output, valid against schema.")


class PaginationSpec(Model):
    """A list request whose answer pages: the runner follows the next page's URL to the end or
    to the limit input (connector/pagination.py) and returns {<items>: [...], count, pages,
    has_more}."""

    model_config = ConfigDict(
        title="Pagination",
        json_schema_extra={
            "examples": [
                {"items": "links", "next": "pagination.next", "limit": "limit",
                 "page_size": "size", "max_page_size": 100}
            ]
        },
    )  # fmt: skip

    items: Annotated[str, Strict(), Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = Field(
        description="The array each page holds."
    )
    next: Annotated[
        str, Strict(), Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
    ] = Field(
        default="pagination.next",
        description="Dotted path of the next page's URL; empty or absent at the end.",
    )
    limit: Key | None = Field(
        default=None, description="The input that caps how many items are returned."
    )
    page_size: NonEmpty | None = Field(
        default=None,
        description="The query parameter a smaller limit lowers the first page's size to.",
    )
    max_page_size: Annotated[int, Strict(), Field(ge=1)] | None = Field(
        default=None, description="Largest page size the API accepts."
    )


class ActionSpec(Model):
    """manifests/<app>/<key>.yaml: one action a builder can place in a workflow."""

    model_config = ConfigDict(
        title="Action manifest",
        json_schema_extra={
            # A trigger polls through a handler and says how its events are identified.
            "if": {"properties": {"kind": {"const": "trigger"}}, "required": ["kind"]},
            "then": {"required": ["trigger", "handler"]},
            "else": {"not": {"required": ["trigger"]}},
        },
    )

    key: Key = Field(
        description="Action key, equal to the file stem; the action id is <app>.<key>.",
        examples=["get_bitlink"],
    )
    name: NonEmpty = Field(description="Human name shown by builders.")
    description: NonEmpty = Field(description="What the action does, one or two sentences.")
    kind: Literal["action", "search", "trigger"] = Field(
        description="action writes or computes, search reads, trigger polls for new items."
    )
    idempotent: Flag = Field(
        description="True when repeating the call cannot cause a second effect, so a retry "
        "after an unknown outcome is safe."
    )
    inputs: tuple[InputSpec, ...] = Field(description="Fields the builder draws, in order.")
    request: RequestSpec | None = None
    handler: Dotted | None = Field(
        default=None,
        description="module:function of an async handler, for logic beyond one request; a "
        "leading dot makes the module relative to the app's handler package. Exactly one of "
        "request and handler.",
        examples=[".metrics:get_link_click_metrics", "my_package.things:bulk_create"],
    )
    reconcile: Dotted | None = Field(
        default=None,
        description="module:function (a leading dot: relative to the app's handler package) "
        "that checks whether a write with an unknown outcome was applied.",
    )
    rate_limit: ActionRateLimit | None = None
    output: OutputSpec
    sample_request: dict[str, Any] = Field(
        description="Input values as a builder maps them, templates in {{...}} form."
    )
    notes: tuple[Note, ...] = Field(description="FAQ-style notes shown on the action page.")
    operations: Annotated[
        tuple[Annotated[str, Strict(), Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")], ...],
        Field(min_length=1),
        AfterValidator(_unique),
    ] = Field(
        default=(),
        description="The vendor API operations (operationIds of its API facts) a handler calls; "
        "a declarative request's operation is found from its method and path.",
        examples=[["getClicksForBitlink"]],
        json_schema_extra={"uniqueItems": True},
    )
    max_response_bytes: Annotated[int, Strict(), Field(ge=1024, le=268435456)] | None = Field(
        default=None,
        description="Largest successful response body read, in bytes (default 8 MiB); a larger "
        "one fails the call with a clear error instead of filling memory.",
        examples=[33554432],
    )
    write_safety: WriteSafetySpec | None = Field(
        default=None,
        description="How a lost write is told apart from one that never happened "
        "(connector/engine/writes.py).",
    )
    trigger: TriggerSpec | None = Field(
        default=None,
        description="For kind: trigger (required there, refused elsewhere): its handler "
        "polls; the output is {events, state}.",
    )
    plan_feature: NonEmpty | None = Field(
        default=None,
        description="The paid-plan feature an action needs because it calls an operation the "
        "vendor marks premium (required then, refused otherwise); the catalog shows it and a "
        "402 names it.",
        examples=["Campaigns"],
    )
    pagination: PaginationSpec | None = None

    # Bound by the loader. Private attributes are slow to read (pydantic looks them up on
    # every access), so what the hot path reads is cached in the instance as plain values.
    _app: str = PrivateAttr("")
    _source: Path | None = PrivateAttr(None)
    #: the app's spec, for its notes and shapes
    _app_spec: AppSpec | None = PrivateAttr(None)

    def bind(self, app: str, source: Path | None = None, app_spec: AppSpec | None = None) -> None:
        """Attach what the manifest does not say: the app key, the file, the app's spec."""
        self._app, self._source, self._app_spec = app, source, app_spec
        self._forget()

    def _forget(self) -> None:
        for name in _DERIVED:
            self.__dict__.pop(name, None)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, bound to the same app; nothing compiled from this action is copied."""
        copy = super().model_copy(update=update, deep=deep)
        copy._forget()
        return copy

    @cached_property
    def app(self) -> str:
        return self._app

    @property
    def source(self) -> Path | None:
        return self._source

    @cached_property
    def id(self) -> str:
        return f"{self._app}.{self.key}"

    @cached_property
    def compiled(self) -> dict[str, Any]:
        """What other modules compile from this action once and keep with it (the input
        plan of `connector.catalog.inputs`), by their name; a copy starts empty."""
        return {}

    def input(self, key: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.key == key), None)

    @property
    def input_keys(self) -> list[str]:
        return [i.key for i in self.inputs]

    @cached_property
    def output_schema(self) -> dict[str, Any]:
        """The output's JSON Schema, self-contained: the app shapes it names are in `$defs`."""
        return with_shapes(self.output.schema_, self.app_shapes)

    @property
    def output_sample(self) -> Any:
        return self.output.sample

    @property
    def app_shapes(self) -> dict[str, dict[str, Any]]:
        return dict(self._app_spec.shapes) if self._app_spec else {}

    @property
    def all_notes(self) -> tuple[Note, ...]:
        """The action's own notes, then the notes its app declares for every action."""
        return self.notes + (self._app_spec.notes if self._app_spec else ())


def optional_fields(model: type[BaseModel], names: Iterable[str] | None = None) -> dict[str, Any]:
    """`model`'s fields (all, or `names`), each with its type, bounds and description but
    optional: for create_model, to derive a "give only what you change" shape from a model
    instead of writing it again."""
    out: dict[str, Any] = {}
    for name in names if names is not None else model.model_fields:
        info = model.model_fields[name]
        annotation: Any = info.annotation
        optional = annotation | None
        annotated = Annotated[optional, *info.metadata] if info.metadata else optional
        out[name] = (annotated, Field(default=None, description=info.description))
    return out


#: the cached properties of ActionSpec, dropped when it is bound again or copied
_DERIVED = ("app", "id", "compiled", "output_schema")
_LOCAL_REF = re.compile(r"^#/\$defs/([^/]+)$")


def shape_refs(schema: Any) -> set[str]:
    """Names of `#/$defs/<name>` references anywhere in a JSON Schema."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            match = _LOCAL_REF.match(ref) if isinstance(ref, str) else None
            if match:
                found.add(match.group(1))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def with_shapes(schema: dict[str, Any], shapes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`schema` with the shapes it names (and those they name) added to its `$defs`."""
    own = schema.get("$defs") or {}
    wanted, added = shape_refs(schema), {}
    while wanted:
        name = wanted.pop()
        if name in own or name in added or name not in shapes:
            continue
        added[name] = shapes[name]
        wanted |= shape_refs(shapes[name])
    if not added:
        return schema
    return {**schema, "$defs": {**dict(sorted(added.items())), **own}}
