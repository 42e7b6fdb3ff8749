"""The service's request and response bodies; `/openapi.json` is generated from these.

Workflows, inputs, contexts and outputs are free-form JSON here on purpose: their shapes are
the catalog's and the workflow schema's, checked by the same code the CLI runs (a second
model would drift), and the catalog export documents them for builders.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ActionDocument",
    "CatalogDocument",
    "Health",
    "ItemPage",
    "ItemView",
    "PreviewRequest",
    "PreviewResult",
    "Problem",
    "ProblemField",
    "RetryRequest",
    "RunList",
    "RunStarted",
    "RunSummary",
    "RunView",
    "StartRun",
    "StepView",
    "TestRequest",
    "TestResult",
    "WorkflowSave",
    "WorkflowSaved",
    "WorkflowVersion",
]

#: the highest workflow version number (SQLite integers are 64-bit; nobody saves 2**31)
MAX_VERSION = 2**31 - 1

RunStatus = Literal["running", "succeeded", "failed", "interrupted"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class RunStarted(BaseModel):
    run_id: str


class RetryRequest(_Strict):
    resolve: dict[str, Literal["applied", "not-applied"]] = Field(
        default_factory=dict,
        max_length=10_000,
        description='writes whose outcome is unknown, settled by item: {"each[3]": "applied"}',
    )


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
    items: list[ItemView]
    next_cursor: str | None
    counts: dict[str, int]


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


class RunView(RunSummary):
    trigger: Any = None
    output: Any = None
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
