"""The manifest schema: examples pass, anti-examples fail with their expected message."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from connector.catalog.loader import SCHEMA_PATH, manifest_problems, manifest_schema
from connector.catalog.models import SCHEMA_FIELDS

HERE = SCHEMA_PATH.parent
EXAMPLES = sorted((HERE / "examples").glob("*.yaml"))
ANTI = sorted((HERE / "anti_examples").glob("*.yaml"))


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_passes(path: Path) -> None:
    doc = _load(path)
    assert manifest_problems(doc["definition"], doc["manifest"]) == []


@pytest.mark.parametrize("path", ANTI, ids=lambda p: p.stem)
def test_anti_example_fails_with_expected_message(path: Path) -> None:
    doc = _load(path)
    assert doc["reason"]
    messages = [f"{f}: {m}" for f, m in manifest_problems(doc["definition"], doc["manifest"])]
    assert any(doc["expected"] in m for m in messages), messages


def test_there_are_examples_and_anti_examples() -> None:
    assert len(EXAMPLES) >= 3 and len(ANTI) >= 8


def _objects(node: object, where: str = "") -> list[tuple[str, dict]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            found.append((where, node))
        for k, v in node.items():
            found.extend(_objects(v, f"{where}/{k}"))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(_objects(v, f"{where}/{i}"))
    return found


def test_every_object_closed_and_every_property_described() -> None:
    for where, obj in _objects(manifest_schema()["$defs"]):
        assert obj.get("additionalProperties") is False, where
        for name, prop in obj["properties"].items():
            described = "description" in prop or "$ref" in prop
            assert described, f"{where}.{name} has no description"


def test_models_cover_exactly_the_schema_properties() -> None:
    defs = manifest_schema()["$defs"]
    for definition, (cls, mapping) in SCHEMA_FIELDS.items():
        assert set(mapping) == set(defs[definition]["properties"]), definition
        fields = {f.name for f in dataclasses.fields(cls)}
        assert set(mapping.values()) <= fields, definition
