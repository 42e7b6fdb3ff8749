"""The JSON Schemas shipped in the package, generated from the pydantic models.

    python -m connector.catalog.schema_gen          # rewrite the committed files
    python -m connector.catalog.schema_gen --check  # exit 1 when a committed file differs

`tests/catalog_core/test_schema.py` runs the check, so a model change without a regenerated
schema fails the suite. The schemas are for editors and builders; the loader validates with
the models themselves.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from connector.catalog.models import MISSING, ActionSpec, AppSpec
from connector.engine.workflow_model import WorkflowDoc

__all__ = ["SCHEMAS", "generated", "json_schema_of", "main", "manifest_schema", "workflow_schema"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
MANIFEST_SCHEMA = Path(__file__).parent / "schema" / "manifest.schema.json"
WORKFLOW_SCHEMA = Path(__file__).parents[1] / "engine" / "workflow_schema.json"


class _Generator(GenerateJsonSchema):
    """pydantic's generator, minus what would misdescribe a manifest: no auto titles on
    fields, no `null` for optional keys (absent is how a manifest says "none"), no default
    that only marks absence."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if schema.get("default", ...) in (None, MISSING) or schema.get("default") == ():
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


def json_schema_of(
    models: list[type[BaseModel]], root: Callable[[dict[str, str]], dict[str, Any]]
) -> dict[str, Any]:
    """One document: `root(refs)` (refs: model name -> its `$ref`) and every `$defs`."""
    refs, top = models_json_schema(
        [(m, "validation") for m in models],
        ref_template="#/$defs/{model}",
        schema_generator=_Generator,
    )
    named = {m.__name__: refs[(m, "validation")]["$ref"] for m in models}
    return {"$schema": DIALECT, **root(named), "$defs": top.get("$defs", {})}


def manifest_schema() -> dict[str, Any]:
    return json_schema_of(
        [AppSpec, ActionSpec],
        lambda ref: {
            "$id": "https://connector.local/schema/manifest.schema.json",
            "title": "Connector manifest",
            "description": (
                "One file of the action catalog: manifests/<app>/app.yaml (an app) or "
                "manifests/<app>/<key>.yaml (an action). Generated from "
                "connector/catalog/models.py; every object rejects unknown keys."
            ),
            "if": {"required": ["base_url"]},
            "then": {"$ref": ref["AppSpec"]},
            "else": {"$ref": ref["ActionSpec"]},
        },
    )


def workflow_schema() -> dict[str, Any]:
    return json_schema_of(
        [WorkflowDoc],
        lambda ref: {
            "$id": "https://connector.local/schema/workflow.schema.json",
            "$ref": ref["WorkflowDoc"],
        },
    )


#: committed file -> the function generating it
SCHEMAS: dict[Path, Callable[[], dict[str, Any]]] = {
    MANIFEST_SCHEMA: manifest_schema,
    WORKFLOW_SCHEMA: workflow_schema,
}


def generated() -> dict[Path, str]:
    """Each shipped schema file and the text it must hold."""
    return {
        path: json.dumps(make(), indent=2, ensure_ascii=False) + "\n"
        for path, make in SCHEMAS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connector.catalog.schema_gen")
    parser.add_argument("--check", action="store_true", help="fail when a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated().items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "out of date" if args.check else "written"
        print(f"{path}: {verb}", file=sys.stderr)
    if args.check and stale:
        print("run: python -m connector.catalog.schema_gen", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
