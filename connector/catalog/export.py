"""The catalog as one JSON document a builder UI loads to draw every action's form."""

from __future__ import annotations

from typing import Any

from connector.catalog.catalog import Catalog
from connector.catalog.inputs import inputs_json_schema
from connector.catalog.models import ActionSpec, AppSpec

__all__ = ["EXPORT_VERSION", "action_document", "export_catalog"]

EXPORT_VERSION = 1


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
    """One action: form (JSON Schema), sample request and output, notes."""
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
        "inputs": inputs_json_schema(action),
        "sample_request": action.sample_request,
        "request": request,
        "output": {"schema": action.output_schema, "sample": action.output_sample},
        "notes": [{"question": n.question, "answer": n.answer} for n in action.all_notes],
    }


def export_catalog(catalog: Catalog) -> dict[str, Any]:
    return {
        "version": EXPORT_VERSION,
        "template_syntax": {
            "canonical": "<<path>>",
            "accepted": ["{{path}}"],
            "roots": ["trigger", "steps.<id>.output", "item"],
        },
        "apps": [_app_document(k, a, catalog) for k, a in sorted(catalog.apps.items())],
    }
