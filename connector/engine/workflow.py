"""Workflows: load a YAML or JSON file, validate it, and give the engine compiled steps.

Validation happens before anything runs and reports every problem at once, each with the
step and field it concerns: the document model (`workflow_model.WorkflowDoc`, the single
source of truth for the shape, from which `workflow_schema.json` is generated), then the
checks only the catalog can make (unknown actions, undeclared or missing inputs, literal
values of the wrong type) and template references to steps that do not exist or run later.

The steps handed to the engine (ActionStep, LoopStep, AggregateStep) are compiled from the
validated document: retry policies resolved, a loop's body as a list of action steps.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ValidationError

from connector.catalog.model_errors import describe_errors
from connector.engine.protocols import CatalogLike
from connector.engine.retry_policy import MAX_ATTEMPTS, RetryPolicy
from connector.engine.workflow_model import (
    ActionStepDoc,
    AggregateStepDoc,
    LoopStepDoc,
    WorkflowDoc,
)
from connector.errors import ConnectorError, FieldError, InvalidConfiguration, InvalidInput
from connector.safe_load import load_yaml, read_text

__all__ = [
    "ActionStep",
    "AggregateStep",
    "LoopStep",
    "Workflow",
    "WorkflowInvalid",
    "load_workflow",
    "parse_workflow_text",
    "resolve_trigger",
    "validate_workflow",
    "workflow_schema",
]

DEFAULT_RETRY = RetryPolicy()


class WorkflowInvalid(InvalidConfiguration):
    """A workflow file has one or more problems; all of them are listed."""

    kind = "invalid_workflow"

    def __init__(self, errors: list[FieldError], *, where: str | None = None) -> None:
        self.errors = errors
        if len(errors) == 1:  # one problem, one line
            super().__init__(f"invalid workflow: {errors[0]}", where=where)
            return
        lines = "\n".join(f"  - {e.field}: {e.message}" for e in errors)
        super().__init__(f"invalid workflow ({len(errors)} problems):\n{lines}", where=where)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return out


# The steps the engine runs, compiled from the validated document (workflow_model): not a
# shape anyone writes. Retry policies are resolved, a loop's body is a list of action steps,
# and `definition` is the step as written (the run log keeps it).


@dataclass(frozen=True)
class ActionStep:
    """One action call, with the retry policy in force for it."""

    id: str
    action: str
    inputs: dict[str, Any]
    retry: RetryPolicy
    definition: dict[str, Any]

    kind = "action"


@dataclass(frozen=True)
class LoopStep:
    """A loop, with its body compiled to action steps."""

    id: str
    over: str
    batch_size: int
    on_item_error: str
    #: what runs for each item: one step named like the loop, or the loop's `steps`
    body: tuple[ActionStep, ...]
    #: True when the loop runs a single `action` (its item output is that action's output)
    single: bool
    definition: dict[str, Any]

    kind = "loop"


@dataclass(frozen=True)
class AggregateStep:
    """An aggregation over an array; `fields` as the aggregator reads them."""

    id: str
    over: str
    fields: dict[str, dict[str, Any]]
    definition: dict[str, Any]

    kind = "aggregate"


Step = ActionStep | LoopStep | AggregateStep


@dataclass(frozen=True)
class Workflow:
    name: str
    steps: tuple[Step, ...]
    retry: RetryPolicy
    output: Any
    trigger_sample: Any
    trigger_schema: dict[str, Any] | None
    #: the validated document, as written (the run log keeps it as the run's snapshot)
    document: dict[str, Any] = field(repr=False)
    source: str | None = None
    #: app -> rate limits this workflow sets (the lowest figure wins)
    limits: dict[str, dict[str, int]] = field(default_factory=dict)

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


@cache
def workflow_schema() -> dict[str, Any]:
    text = resources.files("connector.engine").joinpath("workflow_schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


# --- parsing ---------------------------------------------------------------------------


def parse_workflow_text(text: str, source: str = "<workflow>") -> dict[str, Any]:
    """YAML or JSON text -> a dict; syntax errors name the line and column."""
    try:
        doc = load_yaml(text, source)
    except InvalidInput as exc:
        # Bounds and syntax (connector.safe_load): one problem, located by line.
        raise WorkflowInvalid([FieldError("syntax", exc.message)], where=exc.where) from None
    if not isinstance(doc, dict):
        raise WorkflowInvalid(
            [FieldError("(document)", "a workflow must be a mapping with name and steps")],
            where=source,
        )
    return doc


def load_workflow(path: str | Path, catalog: CatalogLike) -> Workflow:
    try:
        text = read_text(path, what="workflow file")
    except InvalidInput as exc:
        raise InvalidConfiguration(exc.message, where=exc.where) from None
    return validate_workflow(parse_workflow_text(text, str(path)), catalog, source=str(path))


# --- validation ------------------------------------------------------------------------


def validate_workflow(
    doc: dict[str, Any], catalog: CatalogLike, *, source: str | None = None
) -> Workflow:
    """Check everything that can be checked before running; raise WorkflowInvalid listing all."""
    model, errors = _parse(doc)
    errors += _semantic_errors(doc, catalog)
    if errors or model is None:
        raise WorkflowInvalid(_dedupe(errors), where=source)
    return _build(model, doc, source)


def _parse(doc: dict[str, Any]) -> tuple[WorkflowDoc | None, list[FieldError]]:
    """The document model, or None and every problem the model finds, by step and field."""
    try:
        return WorkflowDoc.model_validate(doc), []
    except ValidationError as exc:
        found = describe_errors(
            WorkflowDoc, exc, lambda loc: _field_path(doc, list(loc)), untagged=_untagged
        )
        errors = [FieldError(field, _said(field, message)) for field, message in found]
        return None, sorted(errors, key=lambda e: e.field)


def _schema_errors(doc: dict[str, Any]) -> list[FieldError]:
    return _parse(doc)[1]


def _untagged(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # A top-level step is a discriminated union: its location holds the member's tag.
    if len(loc) > 2 and loc[0] == "steps" and isinstance(loc[1], int):
        return loc[:2] + loc[3:]
    return loc


def _said(field: str, message: str) -> str:
    if field.endswith("max_attempts") and "greater than the maximum" in message:
        value = message.split(" ", 1)[0]
        return f"max_attempts is {value}; at most {MAX_ATTEMPTS} attempts are allowed"
    return message


def _field_path(doc: dict[str, Any], path: list[Any]) -> str:
    """steps[2].retry -> steps.<id of step 2>.retry, so errors name the step."""
    parts: list[str] = []
    node: Any = doc
    for i, key in enumerate(path):
        if isinstance(key, int):
            item = node[key] if isinstance(node, list) and key < len(node) else None
            step_id = item.get("id") if isinstance(item, dict) else None
            in_steps = i > 0 and path[i - 1] == "steps"
            if in_steps and isinstance(step_id, str) and step_id:
                parts.append(step_id)
            else:
                parts[-1:] = [f"{parts[-1]}[{key}]"] if parts else [f"[{key}]"]
            node = item
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts) or "(document)"


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    seen: set[tuple[str, str]] = set()
    out = []
    for e in errors:
        if (e.field, e.message) not in seen:
            seen.add((e.field, e.message))
            out.append(e)
    return out


def _semantic_errors(doc: dict[str, Any], catalog: CatalogLike) -> list[FieldError]:
    from connector.catalog.templates import is_one_template, template_references

    errors: list[FieldError] = []
    raw_steps = doc.get("steps")
    steps: list[Any] = raw_steps if isinstance(raw_steps, list) else []
    workflow_retry = _policy_or_none(doc.get("retry"))
    ids_all = [s.get("id") for s in steps if isinstance(s, dict)]
    seen_ids: list[str] = []

    def check_refs(value: Any, where: str, visible: list[str], in_loop: bool) -> None:
        try:
            refs = template_references(value)
        except ConnectorError as exc:
            errors.append(FieldError(where, f"template error: {exc.message}"))
            return
        for ref in refs:
            errors.extend(_ref_errors(ref, where, visible, ids_all, in_loop))

    def check_action(step: dict[str, Any], where: str, visible: list[str], in_loop: bool) -> None:
        action_id = step.get("action")
        inputs = step.get("inputs") or {}
        if not isinstance(action_id, str) or not isinstance(inputs, dict):
            return  # the schema already said what is wrong
        try:
            catalog.get(action_id)
        except ConnectorError as exc:
            errors.append(FieldError(f"{where}.action", exc.message))
        else:
            for fe in catalog.static_input_errors(action_id, inputs):
                errors.append(FieldError(f"{where}.inputs.{fe.field}", fe.message))
        for key, value in inputs.items():
            check_refs(value, f"{where}.inputs.{key}", visible, in_loop)
        if isinstance(step.get("retry"), dict) and workflow_retry is not None:
            try:
                workflow_retry.tightened(step["retry"])
            except InvalidConfiguration as exc:
                errors.append(FieldError(f"{where}.retry", exc.message))

    limits = doc.get("limits")
    for app in limits if isinstance(limits, dict) else ():
        if app not in catalog.apps:
            errors.append(FieldError(f"limits.{app}", f"no app {app!r} in the catalog"))
    for step in steps:
        if not isinstance(step, dict) or not isinstance(step.get("id"), str):
            continue
        sid = step["id"]
        where = f"steps.{sid}"
        if sid in seen_ids:
            errors.append(FieldError(f"{where}.id", f"duplicate step id {sid!r}"))
        if isinstance(step.get("aggregate"), dict) and "loop" not in step:
            over = step["aggregate"].get("over")
            if over is not None:
                check_refs(over, f"{where}.aggregate.over", seen_ids, in_loop=False)
        elif isinstance(step.get("loop"), dict):
            loop = step["loop"]
            if "over" in loop:
                check_refs(loop["over"], f"{where}.loop.over", seen_ids, in_loop=False)
                if isinstance(loop["over"], str) and not is_one_template(loop["over"]):
                    # A literal (or text around a template) renders to a string, never the
                    # list a loop needs: say so now rather than fail the run at this step.
                    errors.append(FieldError(f"{where}.loop.over", _OVER_LITERAL))
            if "action" in step:
                check_action(step, where, seen_ids, in_loop=True)
            raw_body = step.get("steps")
            body: list[Any] = raw_body if isinstance(raw_body, list) else []
            inner: list[str] = []
            for sub in body:
                if not isinstance(sub, dict) or not isinstance(sub.get("id"), str):
                    continue
                sub_where = f"{where}.steps.{sub['id']}"
                if sub["id"] in inner or sub["id"] in ids_all:
                    errors.append(FieldError(f"{sub_where}.id", f"duplicate step id {sub['id']!r}"))
                check_action(sub, sub_where, [*seen_ids, *inner], in_loop=True)
                inner.append(sub["id"])
        else:
            check_action(step, where, seen_ids, in_loop=False)
        seen_ids.append(sid)
    if "output" in doc:
        check_refs(doc["output"], "output", seen_ids, in_loop=False)
    return errors


_OVER_LITERAL = (
    "must be one template giving a list, e.g. <<trigger.urls>> or "
    "<<steps.list.output.links>>, not a literal or text around a template"
)


def _ref_errors(
    ref: str, where: str, visible: list[str], all_ids: list[Any], in_loop: bool
) -> list[FieldError]:
    parts = ref.split(".")
    root = parts[0]
    if root == "trigger":
        return []
    if root in ("item", "index"):
        if in_loop:
            return []
        return [FieldError(where, f"`{root}` is only available inside a loop")]
    if root != "steps":
        hint = _suggest(root, ["trigger", "steps", "item", "index"])
        return [FieldError(where, f"unknown template variable {root!r}{hint}")]
    if len(parts) < 2:
        return [FieldError(where, "name a step: steps.<id>.output")]
    target = parts[1]
    if target not in visible:
        if target in all_ids:
            message = f"step {target!r} runs later; a step can only use earlier steps"
            return [FieldError(where, message)]
        return [FieldError(where, f"no step {target!r}{_suggest(target, visible)}")]
    if len(parts) > 2 and parts[2] != "output":
        return [FieldError(where, f"steps.{target} has only `output`, not {parts[2]!r}")]
    return []


def _suggest(name: str, choices: list[Any]) -> str:
    close = difflib.get_close_matches(name, [c for c in choices if isinstance(c, str)], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _policy_or_none(data: Any) -> RetryPolicy | None:
    if data is None:
        return DEFAULT_RETRY
    if not isinstance(data, dict):
        return None
    try:
        return RetryPolicy.from_dict(data)
    except (InvalidConfiguration, TypeError):
        return None


# --- building --------------------------------------------------------------------------


def _build(model: WorkflowDoc, doc: dict[str, Any], source: str | None) -> Workflow:
    workflow_retry = RetryPolicy.from_dict(_settings(model.retry))

    def action_step(step: ActionStepDoc | LoopStepDoc, d: dict[str, Any], where: str) -> ActionStep:
        return ActionStep(
            id=step.id,
            action=str(step.action),
            inputs=dict(step.inputs or {}),
            retry=workflow_retry.tightened(_settings(step.retry), where=f"{where}.retry"),
            definition=d,
        )

    steps: list[Step] = []
    for step, d in zip(model.steps, doc["steps"], strict=True):
        where = f"steps.{step.id}"
        if isinstance(step, AggregateStepDoc):
            fields = {
                name: f.model_dump(exclude_none=True) for name, f in step.aggregate.fields.items()
            }
            steps.append(AggregateStep(step.id, step.aggregate.over, fields, d))
        elif isinstance(step, LoopStepDoc):
            single = step.steps is None
            body = (
                (action_step(step, d, where),)
                if single
                else tuple(
                    action_step(sub, sd, f"{where}.steps.{sub.id}")
                    for sub, sd in zip(step.steps or (), d["steps"], strict=True)
                )
            )
            steps.append(
                LoopStep(
                    id=step.id,
                    over=step.loop.over,
                    batch_size=step.loop.batch_size,
                    on_item_error=step.loop.on_item_error,
                    body=body,
                    single=single,
                    definition=d,
                )
            )
        else:
            steps.append(action_step(step, d, where))
    trigger = model.trigger
    return Workflow(
        name=model.name,
        steps=tuple(steps),
        retry=workflow_retry,
        output=model.output,
        trigger_sample=trigger.sample if trigger else None,
        trigger_schema=trigger.schema_ if trigger else None,
        document=doc,
        source=source,
        limits={app: _settings(given) or {} for app, given in model.limits.items()},
    )


def _settings(settings: BaseModel | None) -> dict[str, Any] | None:
    """The keys a retry block gives (those left out come from the workflow or the defaults)."""
    return settings.model_dump(exclude_unset=True) if settings is not None else None


def resolve_trigger(workflow: Workflow, payload: Any = None) -> Any:
    """The trigger payload for a run (the sample when none is given), checked against its schema."""
    value = workflow.trigger_sample if payload is None else payload
    if value is None:
        value = {}
    if workflow.trigger_schema:
        validator = jsonschema.Draft202012Validator(workflow.trigger_schema)
        problems = [
            f"{'.'.join(str(p) for p in e.absolute_path) or '(payload)'}: {e.message}"
            for e in validator.iter_errors(value)
        ]
        if problems:
            raise InvalidInput("; ".join(problems), where="trigger")
    return value
