"""The catalog as one JSON document a builder UI loads to draw every action's form.

The contract for builders (kept stable): `{"apps": [{"actions": [...]}]}`; each action has
`id`, `name`, `inputs` (the form's JSON Schema, literal values only), `mapped_inputs` (what a
builder may save: each field a literal or a template string), `ui_schema`
(react-jsonschema-form's), `sample_request` (valid against `mapped_inputs`) and `operations`
(the vendor API's operationIds it calls). The top level says how to read them.
"""

from __future__ import annotations

from typing import Any

from connector.catalog.catalog import Catalog
from connector.catalog.export_forms import (
    TEMPLATE,
    VOCABULARY,
    mapped_inputs_schema,
    ui_schema,
)
from connector.catalog.inputs import inputs_json_schema
from connector.catalog.models import ActionSpec, AppSpec
from connector.catalog.operations import action_operations

__all__ = ["EXPORT_VERSION", "action_document", "export_catalog"]

EXPORT_VERSION = 2


def _app_document(key: str, app: AppSpec, catalog: Catalog) -> dict[str, Any]:
    return {
        "key": key,
        "name": app.name,
        "description": app.description,
        "credential": {
            "env": app.credential_env,
            "scheme": app.credential_scheme,
            "fields": [
                {"key": "token", "label": f"{app.name} token", "type": "password", "required": True}
            ],
        },
        "base_url": app.base_url,
        "rate_limits": app.rate_limits.model_dump(mode="json"),
        "actions": [action_document(a) for a in catalog.actions.values() if a.app == key],
    }


def action_document(action: ActionSpec) -> dict[str, Any]:
    """One action: its form, what a builder may save, sample request, operations, output."""
    request = None
    if action.request is not None:
        request = {"method": action.request.method, "path": action.request.path}
    return {
        "id": action.id,
        "key": action.key,
        "app": action.app,
        "name": action.name,
        "description": action.description,
        "kind": action.kind,
        "idempotent": action.idempotent,
        "operations": action_operations(action),
        # a paid plan's feature the action needs (its operations are premium), else null
        "plan_feature": action.plan_feature,
        "inputs": inputs_json_schema(action),
        "mapped_inputs": mapped_inputs_schema(action),
        "ui_schema": ui_schema(action),
        "sample_request": action.sample_request,
        "request": request,
        "output": {"schema": action.output_schema, "sample": action.output_sample},
        "notes": [{"question": n.question, "answer": n.answer} for n in action.all_notes],
    }


_SCHEMAS = {
    "dialects": [
        "http://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft/2020-12/schema",
    ],
    "formats": ["uri", "date-time"],
    "how": (
        "every schema (inputs, mapped_inputs, output.schema) is valid under both dialects and "
        "names none; formats as in ajv-formats; Ajv: new Ajv({strict: true}), addFormats(ajv), "
        "ajv.addKeyword(k) for each vocabulary keyword"
    ),
}
_TEMPLATES = {
    "canonical": "<<path>>",
    "accepted": ["{{path}}"],
    "roots": ["trigger", "steps.<id>.output", "item"],
    "schema": TEMPLATE,
    "how": (
        "a builder saves an action's values as `mapped_inputs` allows: per field a literal "
        "as `inputs` draws it, or a string holding templates (a value that is exactly one "
        "template takes the type of what it names; text around templates makes text); lists "
        "of plain values may also be one comma-separated string. `inputs` itself admits no "
        "template: draw with `inputs` and `ui_schema`, validate saved values with "
        "`mapped_inputs`; leave out a field that has no value"
    ),
}


def export_catalog(catalog: Catalog) -> dict[str, Any]:
    return {
        "version": EXPORT_VERSION,
        "schemas": _SCHEMAS,
        "vocabulary": VOCABULARY,
        "templates": _TEMPLATES,
        "apps": [_app_document(k, a, catalog) for k, a in sorted(catalog.apps.items())],
    }
