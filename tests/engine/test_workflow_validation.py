"""Static validation: every problem listed at once, with step and field; nothing runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.engine.workflow import WorkflowInvalid, parse_workflow_text, validate_workflow

from .conftest import FakeCatalog


def _errors(catalog: FakeCatalog, doc: dict[str, Any]) -> list[str]:
    with pytest.raises(WorkflowInvalid) as info:
        validate_workflow(doc, catalog)
    return [f"{e.field}: {e.message}" for e in info.value.errors]


CASES = [
    ({"action": "fake.gte", "inputs": {"key": "a"}}, "steps.s.action", "did you mean 'fake.get'"),
    (
        {"action": "fake.get", "inputs": {"key": "a", "colour": 1}},
        "steps.s.inputs.colour",
        "no such input",
    ),
    ({"action": "fake.get", "inputs": {}}, "steps.s.inputs.key", "required"),
    (
        {"action": "fake.get", "inputs": {"key": "a", "n": "three"}},
        "steps.s.inputs.n",
        "expected int",
    ),
    (
        {"action": "fake.get", "inputs": {"key": "{{ steps.later.output }}"}},
        "steps.s.inputs.key",
        "runs later",
    ),
    (
        {"action": "fake.get", "inputs": {"key": "{{ steps.nope.output }}"}},
        "steps.s.inputs.key",
        "no step 'nope'",
    ),
    (
        {"action": "fake.get", "inputs": {"key": "{{ item }}"}},
        "steps.s.inputs.key",
        "only available inside a loop",
    ),
    (
        {"action": "fake.get", "inputs": {"key": "a"}, "retry": {"max_attempts": 6}},
        "steps.s.retry.max_attempts",
        "at most 5",
    ),
    (
        {"action": "fake.get", "inputs": {"key": "a"}, "retyr": {}},
        "steps.s.retyr",
        "unknown key (did you mean 'retry'?)",
    ),
    (
        {
            "loop": {"over": "{{ trigger.x }}"},
            "action": "fake.get",
            "steps": [{"id": "t", "action": "fake.get", "inputs": {"key": "a"}}],
        },
        "steps.s",
        "needs either `action` (with `inputs`) or `steps`, not both",
    ),
    (
        {"aggregate": {"over": "{{ trigger.x }}", "fields": {"n": {"sum": "a", "count": True}}}},
        "steps.s.aggregate.fields.n",
        "give exactly one aggregation",
    ),
]


@pytest.mark.parametrize(("step", "field", "message"), CASES)
def test_each_problem_is_named(
    catalog: FakeCatalog, step: dict[str, Any], field: str, message: str
) -> None:
    doc = {"name": "t", "steps": [{"id": "s", **step}, {"id": "later", "action": "fake.list"}]}
    errors = _errors(catalog, doc)
    assert any(e.startswith(field + ":") and message in e for e in errors), errors


def test_all_problems_reported_at_once(catalog: FakeCatalog) -> None:
    doc = {
        "name": "t",
        "retry": {"max_attempts": 6},
        "steps": [
            {"id": "a", "action": "fake.nope"},
            {"id": "b", "action": "fake.get", "inputs": {"n": "x"}},
            {
                "id": "c",
                "loop": {"over": "{{ steps.zzz.output }}"},
                "action": "fake.get",
                "inputs": {"key": "{{ item }}"},
            },
        ],
    }
    errors = _errors(catalog, doc)
    fields = {e.split(":")[0] for e in errors}
    assert {
        "retry.max_attempts",
        "steps.a.action",
        "steps.b.inputs.key",
        "steps.b.inputs.n",
        "steps.c.loop.over",
    } <= fields


def test_yaml_syntax_error_names_the_line() -> None:
    text = "name: t\nsteps:\n  - id: a\n    action: [fake.get\n"
    with pytest.raises(WorkflowInvalid) as info:
        parse_workflow_text(text, "wf.yaml")
    assert info.value.where is not None and info.value.where.startswith("wf.yaml:")
    assert "syntax" in str(info.value)


def test_step_override_may_not_loosen(catalog: FakeCatalog) -> None:
    doc = {
        "name": "t",
        "retry": {"max_attempts": 2},
        "steps": [
            {"id": "s", "action": "fake.get", "inputs": {"key": "a"}, "retry": {"max_attempts": 4}}
        ],
    }
    assert any("may only tighten" in e for e in _errors(catalog, doc))


def test_examples_parse_against_the_schema() -> None:
    from connector.engine.workflow import _schema_errors

    root = Path(__file__).resolve().parents[2] / "examples"
    files = sorted(root.glob("*.yaml"))
    assert files, "examples/ holds the shipped workflows"
    for path in files:
        doc = parse_workflow_text(path.read_text(), str(path))
        assert _schema_errors(doc) == [], path


def test_the_shipped_schema_agrees_with_the_model_on_examples_and_broken_steps() -> None:
    from jsonschema import Draft202012Validator

    from connector.engine.workflow import _schema_errors, workflow_schema

    validator = Draft202012Validator(workflow_schema())
    root = Path(__file__).resolve().parents[2] / "examples"
    for path in sorted(root.glob("*.yaml")):
        doc = parse_workflow_text(path.read_text(), str(path))
        assert list(validator.iter_errors(doc)) == [], path
    for step, _, _ in CASES:
        doc = {"name": "t", "steps": [{"id": "s", **step}]}
        # what the model alone refuses (not the catalog's checks), the schema refuses too
        if _schema_errors(doc):
            assert list(validator.iter_errors(doc)), step
