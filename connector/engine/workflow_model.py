"""The workflow document, in pydantic v2: the one definition of what a workflow file holds.

`workflow_schema.json` (shipped beside this module) is generated from these models by
`python -m connector.catalog.schema_gen`. `connector.engine.workflow` validates a document
with them, adds the checks only the catalog can make, and compiles the steps the engine runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    create_model,
    model_validator,
)

from connector.catalog.models import RateLimits, optional_fields
from connector.engine.retry_policy import RetrySettings

__all__ = [
    "ActionStepDoc",
    "AggregateDoc",
    "AggregateStepDoc",
    "Aggregation",
    "LoopDoc",
    "LoopStepDoc",
    "PollTriggerDoc",
    "ScheduleTriggerDoc",
    "Trigger",
    "WebhookTriggerDoc",
    "WorkflowDoc",
    "step_kind",
]

Text = Annotated[str, Strict()]
StepId = Annotated[str, Strict(), Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
ActionId = Annotated[str, Strict(), Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")]

_STEP_ID = "Letters, digits and underscores, so templates can name it: steps.<id>.output"
_ACTION_ID = "<app>.<action key>, e.g. bitly.shorten_link"
_INPUTS = "Input values by key; strings may hold templates."
_DESCRIPTION = "What the step is for, for people reading the workflow."
LOOP_SHAPE = "a loop step needs either `action` (with `inputs`) or `steps`, not both"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionStepDoc(_Doc):
    """Runs one catalog action."""

    model_config = ConfigDict(title="Action step")

    id: StepId = Field(description=_STEP_ID)
    description: Text | None = Field(default=None, description=_DESCRIPTION)
    action: ActionId = Field(description=_ACTION_ID, examples=["bitly.shorten_link"])
    inputs: dict[str, Any] = Field(default_factory=dict, description=_INPUTS)
    retry: RetrySettings | None = Field(  # type: ignore[valid-type]
        default=None, description="Tightens the workflow's retry policy for this step."
    )


class LoopDoc(_Doc):
    """What a loop step iterates over, and how."""

    model_config = ConfigDict(
        title="Loop",
        json_schema_extra={
            "examples": [
                {"over": "{{ trigger.urls }}", "batch_size": 5, "on_item_error": "continue"}
            ]
        },
    )

    over: Text = Field(
        description="A template giving the array to loop over, e.g. {{ steps.list.output.links }}"
    )
    batch_size: Annotated[int, Strict(), Field(ge=1, le=100)] = Field(
        default=10, description="Items in flight at once."
    )
    on_item_error: Literal["stop", "continue"] = Field(
        default="stop", description="After an item fails: stop the loop, or continue with the rest."
    )


class LoopStepDoc(_Doc):
    """Runs `action` (with `inputs`), or the list `steps`, once per item of loop.over."""

    model_config = ConfigDict(
        title="Loop step",
        json_schema_extra={
            "examples": [
                {
                    "id": "links",
                    "loop": {"over": "{{ trigger.urls }}"},
                    "action": "bitly.shorten_link",
                    "inputs": {"long_url": "{{ item }}"},
                }
            ],
            "oneOf": [
                {"required": ["action"], "not": {"required": ["steps"]}},
                {
                    "required": ["steps"],
                    "not": {"anyOf": [{"required": ["action"]}, {"required": ["inputs"]}]},
                },
            ],
        },
    )

    id: StepId = Field(description=_STEP_ID)
    description: Text | None = Field(default=None, description=_DESCRIPTION)
    loop: LoopDoc
    action: ActionId | None = Field(default=None, description=_ACTION_ID)
    inputs: dict[str, Any] | None = Field(default=None, description=_INPUTS)
    retry: RetrySettings | None = Field(  # type: ignore[valid-type]
        default=None, description="Tightens the workflow's retry policy for the loop's calls."
    )
    steps: tuple[ActionStepDoc, ...] | None = Field(
        default=None, min_length=1, description="Action steps run in order for each item."
    )

    @model_validator(mode="after")
    def _action_or_steps(self) -> LoopStepDoc:
        single = self.action is not None
        if single == (self.steps is not None) or (self.inputs is not None and not single):
            raise ValueError(LOOP_SHAPE)
        return self


class Aggregation(_Doc):
    """One of: {sum: field}, {count: true}, {top: field, label: field, limit: n},
    {pick: {column: path}}, {merge: list field, key: field, value: field, limit: n}.
    Fields are dotted paths inside each element."""

    model_config = ConfigDict(
        title="Aggregation",
        json_schema_extra={
            "oneOf": [
                {"required": ["sum"]},
                {"required": ["count"]},
                {"required": ["top", "label"]},
                {"required": ["merge", "key", "value"]},
                {"required": ["pick"]},
            ],
            "examples": [
                {"sum": "total_clicks"},
                {"top": "total_clicks", "label": "bitlink", "limit": 5},
                {"merge": "countries", "key": "value", "value": "clicks", "limit": 5},
            ],
        },
    )

    sum: Text | None = Field(default=None, description="Sum of this field.")
    count: Literal[True] | None = Field(default=None, description="Number of elements.")
    top: Text | None = Field(default=None, description="Largest values of this field...")
    label: Text | None = Field(default=None, description="...each named by this field.")
    merge: Text | None = Field(
        default=None, description="A list field of each element, merged across elements..."
    )
    key: Text | None = Field(default=None, description="...by this field of the list items...")
    value: Text | None = Field(default=None, description="...adding up this field.")
    limit: Annotated[int, Strict(), Field(ge=1, le=1000)] | None = Field(
        default=None, description="Most entries kept (top, merge)."
    )
    pick: Annotated[dict[str, Text], Field(min_length=1)] | None = Field(
        default=None, description="column name -> dotted path inside each element; gives a table"
    )

    @model_validator(mode="after")
    def _one_form(self) -> Aggregation:
        forms = {
            "sum": self.sum is not None,
            "count": self.count is not None,
            "top": self.top is not None and self.label is not None,
            "merge": None not in (self.merge, self.key, self.value),
            "pick": self.pick is not None,
        }
        if sum(forms.values()) != 1:
            raise ValueError(f"give exactly one aggregation ({self.__class__.__doc__})"[:160])
        return self


class AggregateDoc(_Doc):
    """An array, and the fields to compute from it."""

    model_config = ConfigDict(
        title="Aggregate",
        json_schema_extra={
            "examples": [
                {
                    "over": "{{ steps.metrics.output }}",
                    "fields": {"clicks": {"sum": "total_clicks"}},
                }
            ]
        },
    )

    over: Text = Field(
        description="A template giving the array, e.g. {{ steps.metrics.output.items }}"
    )
    fields: Annotated[dict[str, Aggregation], Field(min_length=1)] = Field(
        description="Output field name -> how it is computed."
    )


class AggregateStepDoc(_Doc):
    """Summarises an array (usually a loop's items) without calling any API: sums, counts,
    top-N lists."""

    model_config = ConfigDict(
        title="Aggregate step",
        json_schema_extra={
            "examples": [
                {
                    "id": "totals",
                    "aggregate": {
                        "over": "{{ steps.links.output }}",
                        "fields": {"n": {"count": True}},
                    },
                }
            ]
        },
    )

    id: StepId = Field(description=_STEP_ID)
    description: Text | None = Field(default=None, description=_DESCRIPTION)
    aggregate: AggregateDoc


def step_kind(value: Any) -> str:
    """Which step a document entry is: a loop, an aggregate, or an action."""
    if isinstance(value, dict):
        return "loop" if "loop" in value else "aggregate" if "aggregate" in value else "action"
    return (
        "loop"
        if isinstance(value, LoopStepDoc)
        else ("aggregate" if isinstance(value, AggregateStepDoc) else "action")
    )


StepDoc = Annotated[
    Annotated[ActionStepDoc, Tag("action")]
    | Annotated[LoopStepDoc, Tag("loop")]
    | Annotated[AggregateStepDoc, Tag("aggregate")],
    Discriminator(step_kind),
]


JsonPath = Annotated[
    str, Strict(), Field(pattern=r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$")
]


class PollTriggerDoc(_Doc):
    """Poll a polling trigger of the catalog on an interval; one run per new event, with
    the event as its trigger payload. The trigger's state is kept in the run log."""

    model_config = ConfigDict(
        title="Polling trigger",
        json_schema_extra={
            "examples": [
                {"action": "bitly.new_bitlink", "inputs": {"group_guid": "Bdemo000001"},
                 "interval": 300}
            ]
        },
    )  # fmt: skip

    action: ActionId = Field(description="A `kind: trigger` action that polls.")
    inputs: dict[str, Any] = Field(default_factory=dict, description="Its input values.")
    interval: Annotated[int, Strict(), Field(ge=1, le=86400)] = Field(
        default=300, description="Seconds between two polls."
    )
    replay: Annotated[bool, Strict()] = Field(
        default=False,
        description="The first poll starts a run for what already exists (default: it only "
        "records where things stand).",
    )


class WebhookTriggerDoc(_Doc):
    """A URL of the service (`POST /v1/hooks/{hook_id}`, an unguessable secret in it) that
    starts one run per delivery, the payload as the trigger. With `action` (a webhook
    trigger of the catalog, e.g. bitly.link_clicked) enabling subscribes the URL at the API
    and each delivery is parsed into the action's event; a delivery retried with the same
    event id starts one run."""

    model_config = ConfigDict(
        title="Webhook trigger",
        json_schema_extra={
            "examples": [
                {"action": "bitly.link_clicked",
                 "inputs": {"organization_guid": "Odemo000001", "group_guid": "Bdemo000001"}},
                {"event_id": "id"},
            ]
        },
    )  # fmt: skip

    action: ActionId | None = Field(
        default=None, description="A webhook trigger of the catalog; none: any JSON payload."
    )
    inputs: dict[str, Any] = Field(default_factory=dict, description="Its input values.")
    event_id: JsonPath | None = Field(
        default=None,
        description="Without `action`: dotted path of the payload field that identifies a "
        "delivery (retries with the same value start one run); none: every delivery runs.",
    )


def _cron(value: str) -> str:
    from croniter import croniter  # only where a schedule is declared

    fields = value.split()
    if len(fields) != 5 or not croniter.is_valid(value):
        raise ValueError(
            f"{value[:60]!r} is not a cron expression (five fields: minute hour "
            "day-of-month month day-of-week, e.g. '0 9 * * 1')"
        )
    return value


def _zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value[:60]!r} is not an IANA time zone (e.g. Europe/Paris)") from None
    return value


class ScheduleTriggerDoc(_Doc):
    """Start a run on a cron schedule in a time zone. A schedule missed while the service
    was down runs once when it is back, not once per missed time."""

    model_config = ConfigDict(
        title="Schedule trigger",
        json_schema_extra={"examples": [{"cron": "0 9 * * 1", "timezone": "Europe/Paris"}]},
    )

    cron: Annotated[str, Strict(), AfterValidator(_cron)] = Field(
        description="minute hour day-of-month month day-of-week (ranges, lists, steps, names).",
        examples=["0 9 * * 1", "*/15 * * * *"],
    )
    timezone: Annotated[str, Strict(), AfterValidator(_zone)] = Field(
        default="UTC", description="IANA time zone the times are read in.", examples=["UTC"]
    )


class Trigger(_Doc):
    """The payload a run starts from: a sample used when no --trigger is given, and
    optionally a JSON Schema the payload must satisfy. In the service, at most one of
    `poll`, `webhook` and `schedule` says what starts runs once the workflow is enabled."""

    model_config = ConfigDict(
        title="Trigger",
        json_schema_extra={
            "examples": [
                {
                    "sample": {"urls": ["https://example.com/a"]},
                    "schema": {"type": "object", "required": ["urls"]},
                }
            ]
        },
    )

    sample: Any = Field(default=None, description="The payload used when none is given.")
    schema_: Annotated[dict[str, Any], Strict()] | None = Field(
        default=None, alias="schema", description="JSON Schema the payload must satisfy."
    )
    poll: PollTriggerDoc | None = None
    webhook: WebhookTriggerDoc | None = None
    schedule: ScheduleTriggerDoc | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Trigger:
        if sum(x is not None for x in (self.poll, self.webhook, self.schedule)) > 1:
            raise ValueError("give at most one of poll, webhook and schedule")
        return self

    @property
    def source(self) -> PollTriggerDoc | WebhookTriggerDoc | ScheduleTriggerDoc | None:
        """What starts runs once the workflow is enabled in the service (None: only calls)."""
        return self.poll or self.webhook or self.schedule


class _SomeLimit(_Doc):
    model_config = ConfigDict(
        title="Rate limit settings",
        json_schema_extra={"minProperties": 1, "examples": [{"per_minute": 50}]},
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> _SomeLimit:
        if not self.model_fields_set:
            raise ValueError("give at least one limit")
        return self


#: An app's limits for a workflow's runs: the figures of the manifest's rate_limits that a
#: user may lower, each optional.
RateLimitSettings: type[BaseModel] = create_model(
    "RateLimitSettings",
    __base__=_SomeLimit,
    __doc__="Rate limits for one app in this workflow's runs; the lowest of these, the "
    "connection's, the environment's and the API's wins.",
    **optional_fields(
        RateLimits, ("concurrency", "per_second", "per_minute", "per_hour", "per_month")
    ),
)


class WorkflowDoc(_Doc):
    """A workflow: a trigger, a retry policy, steps (actions, loops, aggregates) and an output
    mapping. Strings may hold templates ({{ trigger.x }}, {{ steps.<id>.output }}, and inside
    a loop {{ item }} and {{ index }})."""

    model_config = ConfigDict(
        title="Workflow",
        json_schema_extra={
            "examples": [
                {
                    "name": "Shorten and tag",
                    "trigger": {"sample": {"urls": ["https://example.com/a"]}},
                    "retry": {"max_attempts": 5, "initial_delay": 0.5},
                    "steps": [
                        {
                            "id": "links",
                            "loop": {"over": "{{ trigger.urls }}", "batch_size": 5},
                            "action": "bitly.shorten_link",
                            "inputs": {"long_url": "{{ item }}"},
                        },
                        {
                            "id": "count",
                            "aggregate": {
                                "over": "{{ steps.links.output.items }}",
                                "fields": {"links": {"count": True}},
                            },
                        },
                    ],
                    "output": "{{ steps.count.output }}",
                }
            ]
        },
    )

    name: Annotated[str, Strict(), Field(min_length=1, max_length=200)] = Field(
        description="Shown in run listings."
    )
    description: Text | None = Field(default=None, description="What the workflow does.")
    trigger: Trigger | None = None
    retry: RetrySettings | None = Field(  # type: ignore[valid-type]
        default=None, description="Retry policy of every step (a step may tighten it)."
    )
    steps: Annotated[tuple[StepDoc, ...], Field(min_length=1)] = Field(
        description="Run in order; a step may use the output of earlier ones."
    )
    output: Any = Field(
        default=None,
        description="What the run returns: any JSON, with templates rendered against the "
        "finished steps.",
    )
    limits: dict[str, RateLimitSettings] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="Rate limits per app for this workflow's runs (app name -> limits); the "
        "lowest of these, the connection's, the environment's and the API's wins.",
    )
