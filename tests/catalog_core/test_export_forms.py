"""Acceptance 5: a builder draws every form from `connector catalog export` alone.

`form_from_export` below is what a builder UI would do with the exported document: no YAML,
no Python. The form it draws for each action is compared with one read from the manifest
files themselves (plain YAML, not the loader), field by field: widget type, label,
required, default, options with labels, bounds, pattern, description, example, order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.catalog.models import with_shapes
from connector.cli import main

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
ACTION_FILES = sorted(p for p in MANIFESTS.glob("*/*.yaml") if p.name != "app.yaml")
_BOUNDS = {
    "number": ("minimum", "maximum"),
    "integer": ("minimum", "maximum"),
    "array": ("minItems", "maxItems"),
    "multi-select": ("minItems", "maxItems"),
}
_ABSENT = object()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("export") / "catalog.json"
    assert main(["catalog", "export", "--out", str(out)]) == 0
    document = json.loads(Path(out).read_text())
    return {a["id"]: a for app in document["apps"] for a in app["actions"]}


def form_from_export(action: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields a builder draws, in order, from one exported action."""
    schema = action["inputs"]
    fields = []
    for key in action["ui_schema"]["ui:order"]:
        prop = schema["properties"][key]
        widget = prop["x-connector-type"]
        low, high = _BOUNDS.get(widget, ("minLength", "maxLength"))
        choices = prop.get("oneOf") or prop.get("items", {}).get("oneOf") or []
        fields.append(
            {
                "key": key,
                "widget": widget,
                "label": prop["title"],
                "required": key in schema["required"],
                "default": prop.get("default", _ABSENT),
                "options": [(c["title"], c["const"]) for c in choices],
                "min": prop.get(low),
                "max": prop.get(high),
                "pattern": prop.get("pattern") if widget != "url" else None,
                "description": prop.get("description"),
                "example": prop["examples"][0] if "examples" in prop else _ABSENT,
                "format": prop.get("x-connector-format"),
                "items": prop.get("items") if widget == "array" else None,
            }
        )
    return fields


def form_from_manifest(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "key": field["key"],
            "widget": field["type"],
            "label": field["label"],
            "required": bool(field.get("required", False)),
            "default": field.get("default", _ABSENT),
            "options": [(o["label"], o["value"]) for o in field.get("options", [])],
            "min": field.get("min"),
            "max": field.get("max"),
            "pattern": field.get("pattern"),
            "description": field.get("description"),
            "example": field.get("example", _ABSENT),
            "format": field.get("format"),
            "items": field.get("items", {}) if field["type"] == "array" else None,
        }
        for field in doc["inputs"]
    ]


def test_every_action_file_is_exported(exported: dict[str, dict[str, Any]]) -> None:
    ids = {f"{p.parent.name}.{p.stem}" for p in ACTION_FILES}
    assert ids == set(exported)


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: f"{p.parent.name}.{p.stem}")
def test_the_form_drawn_from_the_export_matches_the_manifest(
    path: Path, exported: dict[str, dict[str, Any]]
) -> None:
    doc = yaml.safe_load(path.read_text())
    app = yaml.safe_load((path.parent / "app.yaml").read_text())
    action = exported[f"{path.parent.name}.{path.stem}"]
    assert form_from_export(action) == form_from_manifest(doc)
    # What the builder shows around the form, and what downstream nodes can map.
    assert (action["name"], action["description"]) == (doc["name"], doc["description"])
    assert action["kind"] == doc["kind"] and action["idempotent"] == doc["idempotent"]
    assert action["sample_request"] == doc["sample_request"]
    # The output schema is self-contained: the app's shapes it names come along in $defs.
    assert action["output"] == {
        "schema": with_shapes(doc["output"]["schema"], app.get("shapes", {})),
        "sample": doc["output"]["sample"],
    }
    # The action's own notes, then the notes its app declares for every action.
    assert action["notes"] == doc["notes"] + app.get("notes", [])
