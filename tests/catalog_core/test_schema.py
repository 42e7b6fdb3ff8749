"""The manifest models and the JSON Schema generated from them: examples pass, anti-examples
fail with their expected message (from the models and from the shipped schema alike), and the
committed schema files are the generated ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from connector.catalog.loader import manifest_problems
from connector.catalog.schema_gen import MANIFEST_SCHEMA, generated, main

HERE = MANIFEST_SCHEMA.parent
EXAMPLES = sorted((HERE / "examples").glob("*.yaml"))
ANTI = sorted((HERE / "anti_examples").glob("*.yaml"))
# Rules the models hold but JSON Schema cannot say: the key equals the file stem, exactly
# one of request and handler, YAML values that are not JSON.
MODEL_ONLY = {"request_and_handler", "yaml_date"}


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def _shipped(definition: str) -> Draft202012Validator:
    schema = dict(json.loads(MANIFEST_SCHEMA.read_text()))
    for key in ("if", "then", "else"):
        schema.pop(key)
    schema["$ref"] = "#/$defs/AppSpec" if definition == "app" else "#/$defs/ActionSpec"
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_passes(path: Path) -> None:
    doc = _load(path)
    assert manifest_problems(doc["definition"], doc["manifest"]) == []
    assert list(_shipped(doc["definition"]).iter_errors(doc["manifest"])) == []


@pytest.mark.parametrize("path", ANTI, ids=lambda p: p.stem)
def test_anti_example_fails_with_expected_message(path: Path) -> None:
    doc = _load(path)
    assert doc["reason"]
    messages = [f"{f}: {m}" for f, m in manifest_problems(doc["definition"], doc["manifest"])]
    assert any(doc["expected"] in m for m in messages), messages
    if path.stem not in MODEL_ONLY:
        assert list(_shipped(doc["definition"]).iter_errors(doc["manifest"])), path.stem


def test_there_are_examples_and_anti_examples() -> None:
    assert len(EXAMPLES) >= 3 and len(ANTI) >= 8


def test_the_committed_schemas_are_the_generated_ones() -> None:
    for path, text in generated().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is out of date: run python -m connector.catalog.schema_gen"
        )
    assert main(["--check"]) == 0


def _objects(node: object, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            found.append((where, node))
        for k, v in node.items():
            if k != "examples":  # sample documents, not schema
                found.extend(_objects(v, f"{where}/{k}"))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(_objects(v, f"{where}/{i}"))
    return found


def test_every_object_closed_and_every_property_described() -> None:
    for path, text in generated().items():
        defs = json.loads(text)["$defs"]
        Draft202012Validator.check_schema(json.loads(text))
        for where, obj in _objects(defs):
            assert obj.get("additionalProperties") is False, f"{path.name}{where}"
            for name, prop in obj["properties"].items():
                described = "description" in prop or "$ref" in prop
                assert described, f"{path.name}{where}.{name} has no description"


def test_an_explicit_null_is_refused_as_the_schema_refuses_it() -> None:
    doc = _load(HERE / "examples" / "action_declarative.yaml")
    manifest = {**doc["manifest"], "handler": None}
    messages = [f"{f}: {m}" for f, m in manifest_problems("action", manifest)]
    assert any("'handler' is null" in m for m in messages), messages
    assert list(_shipped("action").iter_errors(manifest))


def _examples(node: Any, where: str = "") -> list[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every `examples` entry of a schema and its subschemas."""
    found = []
    if isinstance(node, dict):
        for example in node.get("examples", []) if isinstance(node.get("examples"), list) else []:
            found.append((where, node, example))
        for key, value in node.items():
            if key != "examples":
                found.extend(_examples(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_examples(value, f"{where}/{i}"))
    return found


def test_every_example_in_the_shipped_schemas_is_valid_where_it_stands() -> None:
    checked = 0
    for path, text in generated().items():
        document = json.loads(text)
        for where, schema, example in _examples(document["$defs"]):
            # Resolve the subschema's $refs against the whole document.
            standalone = {**schema, "$defs": document["$defs"]}
            standalone.pop("examples")
            errors = list(Draft202012Validator(standalone).iter_errors(example))
            assert errors == [], f"{path.name}{where}: {example!r}: {errors[0].message}"
            checked += 1
    assert checked >= 20


def test_the_workflow_example_passes_the_model() -> None:
    from connector.engine.workflow import _schema_errors
    from connector.engine.workflow_model import WorkflowDoc

    (example,) = (WorkflowDoc.model_config.get("json_schema_extra") or {})["examples"]
    assert _schema_errors(example) == []


def test_every_definition_is_described_and_shows_an_example() -> None:
    for path, text in generated().items():
        for name, schema in json.loads(text)["$defs"].items():
            assert schema.get("description"), f"{path.name} {name} has no description"
            properties = schema.get("properties", {}).values()
            shown = "examples" in schema or any("examples" in p for p in properties)
            assert shown, f"{path.name} {name} has no example"
