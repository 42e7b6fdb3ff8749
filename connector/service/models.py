"""The service's request and response bodies; `/openapi.json` is generated from these.

Workflows, inputs, contexts and outputs are free-form JSON here on purpose: their shapes are
the catalog's and the workflow schema's, checked by the same code the CLI runs (a second
model would drift), and the catalog export documents them for builders.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = [
    "ActionDocument",
    "CatalogDocument",
    "ConnectionSave",
    "ConnectionView",
    "Health",
    "ItemPage",
    "ItemView",
    "Option",
    "OptionsRequest",
    "OptionsResult",
    "OutputItems",
    "PreviewRequest",
    "PreviewResult",
    "Problem",
    "ProblemField",
    "RetryRequest",
    "RunCancelling",
    "RunList",
    "RunStarted",
    "RunSummary",
    "RunView",
    "StartRun",
    "StepView",
    "TestRequest",
    "TestResult",
    "TriggerSummary",
    "WorkflowSave",
    "WorkflowSaved",
    "WorkflowVersion",
]

#: the highest workflow version number (SQLite integers are 64-bit; nobody saves 2**31)
MAX_VERSION = 2**31 - 1

RunStatus = Literal["running", "succeeded", "failed", "interrupted", "cancelled"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: a connection's name: what requests say in `"connection"`
CONNECTION_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ConnectionName = Annotated[str, Field(pattern=CONNECTION_NAME)]
#: the connections a request uses: one name, or one per app
ConnectionNames = ConnectionName | Annotated[list[ConnectionName], Field(max_length=20)] | None
_CONNECTION_DOC = (
    "the saved connection(s) whose credential is used (one per app); without one, the "
    "app's environment credential, as the CLI does"
)


class ProblemField(BaseModel):
    field: str = Field(description="where: `body.inputs.units`, `steps[1].loop.over`, ...")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemField] = Field(default_factory=list)
    run_id: str | None = Field(None, description="409 on retry: the run's existing child")
    error: dict[str, Any] | None = Field(
        None, description="502: the API's error, as the run log shows it"
    )


class Health(BaseModel):
    status: Literal["ok"]


class CatalogDocument(BaseModel):
    """The builder export (`connector catalog export`)."""

    model_config = ConfigDict(extra="allow")
    version: int
    apps: list[dict[str, Any]]


class ActionDocument(BaseModel):
    """One action as the builder export describes it."""

    model_config = ConfigDict(extra="allow")
    id: str


class PreviewRequest(_Strict):
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="input key -> value; templates allowed"
    )
    context: dict[str, Any] = Field(
        default_factory=dict,
        description='sample context the templates see: {"trigger": ..., "steps": ..., "item": ...}',
    )


class PreviewResult(BaseModel):
    ok: bool
    inputs: dict[str, Any] = Field(description="the resolved and coerced inputs that are valid")
    errors: list[ProblemField]


class TestRequest(PreviewRequest):
    workflow_id: str | None = Field(
        None, max_length=64, description="the workflow the sample data is kept for"
    )
    connection: ConnectionNames = Field(None, description=_CONNECTION_DOC)


class OptionsRequest(_Strict):
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="the form's values so far (the options may depend on some)",
    )
    search: str | None = Field(None, max_length=200, description="only options matching this")
    cursor: str | None = Field(None, max_length=40, description="the next page, as `cursor` said")
    connection: ConnectionNames = Field(None, description=_CONNECTION_DOC)


class Option(BaseModel):
    label: str
    value: str | int | float


class OptionsResult(BaseModel):
    options: list[Option]
    cursor: str | None = Field(description="pass it back for the next page; null at the end")


class TestResult(BaseModel):
    ok: bool
    output: Any = None
    error: dict[str, Any] | None = Field(None, description="as the run log shows it")
    sample_saved: bool


class StartRun(_Strict):
    workflow: dict[str, Any] | None = Field(None, description="an inline workflow document")
    workflow_id: str | None = Field(None, max_length=64, description="a saved workflow's id")
    version: int | None = Field(
        None, ge=1, le=MAX_VERSION, description="its version (default: the latest)"
    )
    trigger: Any = Field(None, description="the trigger payload")
    connection: ConnectionNames = Field(None, description=_CONNECTION_DOC)


class RunStarted(BaseModel):
    run_id: str


class RetryRequest(_Strict):
    resolve: dict[str, Literal["applied", "not-applied"]] = Field(
        default_factory=dict,
        max_length=10_000,
        description='writes whose outcome is unknown, settled by item: {"each[3]": "applied"}',
    )
    version: Literal["original", "current"] = Field(
        "original",
        description="the workflow version retried: the run's own (original) or the saved "
        "workflow's latest (current; runs of a saved workflow only)",
    )
    items: list[Annotated[str, Field(max_length=200)]] | None = Field(
        None,
        max_length=10_000,
        description='only these loop items are re-run ("metrics[3]"); the others are carried '
        "over as they were (default: every item that did not succeed)",
    )
    connection: ConnectionNames = Field(
        None, description="the connection(s) the retry uses (default: the run's own)"
    )


class RunCancelling(BaseModel):
    run_id: str
    status: str = Field(description="`cancelling`: the run stops after the items in flight")


class RunSummary(BaseModel):
    run_id: str
    workflow: str
    status: RunStatus
    started_at: float
    finished_at: float | None
    parent_run_id: str | None
    failed_step: str | None


class RunList(BaseModel):
    runs: list[RunSummary]
    next_cursor: str | None


class ItemView(BaseModel):
    index: int
    status: str
    item: Any = None
    inputs: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    attempts: list[dict[str, Any]]
    started_at: float | None
    finished_at: float | None
    reused_from: str | None


class ItemPage(BaseModel):
    """A page of a loop's items in index order."""

    items: list[ItemView]
    next_cursor: str | None = Field(
        description="pass it back as `cursor` for the next page; null after the last item"
    )
    prev_cursor: str | None = Field(
        None, description="pass it back as `cursor` for the page before; null on the first"
    )
    counts: dict[str, int] = Field(description="the loop's items by status (all of them)")


class StepView(BaseModel):
    step_id: str
    kind: str
    status: str
    started_at: float | None
    finished_at: float | None
    inputs: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    attempts: list[dict[str, Any]]
    summary: dict[str, Any] | None = None
    reused_from: str | None
    items: ItemPage | None = Field(None, description="a loop's first page of items")
    items_url: str | None = Field(
        None, description="a loop's items, page by page (`cursor`, `limit`, `status`)"
    )


class OutputItems(BaseModel):
    """A loop's items in a run's output, more than a page of them: null in `output`, read
    page by page at `items_url` (each item's `output` is the array's element; null for an
    item that did not succeed)."""

    path: list[str | int] = Field(description="where in `output`: keys and indices ([]: all)")
    step_id: str
    count: int
    items_url: str


class TriggerSummary(BaseModel):
    """A trigger payload too big to return in every view of its run: its shape."""

    size: int = Field(description="bytes of its JSON (UTF-8)")
    type: Literal["object", "array", "string", "number", "boolean", "null"]
    length: int | None = Field(
        None, description="an array's elements, an object's keys, a string's characters"
    )
    keys: list[str] | None = Field(
        None, description="an object's top-level keys, in order (the first 100)"
    )
    array_lengths: dict[str, int] = Field(
        default_factory=dict,
        description="an object's top-level keys holding arrays (of the keys listed), and "
        "how many elements each has",
    )


class RunView(RunSummary):
    trigger: Any = Field(
        None,
        description="the trigger payload, whole when its JSON is at most 64 KiB; past that "
        "null, described by `trigger_summary`, and read whole at `trigger_url`",
    )
    trigger_summary: TriggerSummary | None = Field(
        None, description="a payload too big to return whole: its size and shape"
    )
    trigger_url: str = Field(description="the trigger payload alone, whatever its size")
    output: Any = Field(
        None,
        description="the run's output; a loop's items in it are inlined up to `items_limit`, "
        "past that null and listed in `output_items`",
    )
    output_items: list[OutputItems] = Field(
        default_factory=list, description="a loop's items too many to inline in `output`"
    )
    error: dict[str, Any] | None = None
    steps: list[StepView]


class WorkflowSave(_Strict):
    workflow: dict[str, Any]


class WorkflowSaved(BaseModel):
    workflow_id: str
    version: int
    name: str


class WorkflowVersion(WorkflowSaved):
    created_at: float
    workflow: dict[str, Any]


class ConnectionSave(_Strict):
    name: ConnectionName = Field(description='how requests name it: `"connection": name`')
    app: str = Field(max_length=64, description="the app it is for, e.g. `bitly`")
    credential: SecretStr = Field(
        min_length=1,
        max_length=4096,
        description="the token or key; tested, then stored encrypted, never returned",
    )


class ConnectionView(BaseModel):
    """A saved connection as every endpoint shows it: never its credential."""

    name: str
    app: str
    created_at: float
    tested_at: float | None = Field(description="when the credential was last proven to work")
