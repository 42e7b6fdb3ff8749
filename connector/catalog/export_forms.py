"""An action's form for builders: the literal schema to draw, and what a builder may save.

`inputs` (from `inputs_json_schema`) is the JSON Schema of literal values, which form
libraries draw as the right widget. A builder may save, instead of a literal, a template
string; `mapped_inputs` states exactly that, field by field:
`anyOf: [literal, template string]`, plus, for lists of plain values, the comma-separated
string the runtime splits. Both are standard JSON Schema (valid under draft-07 and 2020-12);
the only extension keywords are `VOCABULARY`'s, all named `x-connector-*`.
"""

from __future__ import annotations

from typing import Any

from connector.catalog.inputs import inputs_json_schema
from connector.catalog.models import ActionSpec, InputSpec

__all__ = [
    "COMMA_LIST",
    "TEMPLATE",
    "TEMPLATE_PATTERN",
    "VOCABULARY",
    "mapped_inputs_schema",
    "ui_schema",
]

VOCABULARY: dict[str, Any] = {
    "prefix": "x-connector-",
    "keywords": {
        "x-connector-type": (
            "the manifest's input type (string, text, number, integer, boolean, options, "
            "multi-select, array, object, url, datetime): which widget a builder not using "
            "react-jsonschema-form draws"
        ),
        "x-connector-format": (
            "a value format the runtime normalises before sending: bitlink (bit.ly/abc1234, "
            "with or without https://)"
        ),
    },
    "how": (
        "annotations only, they never change what validates: with Ajv in strict mode, "
        "ajv.addKeyword(name) for each name in keywords"
    ),
}

# "Holds a <<...>> or a {{...}}", as the runtime finds templates. Anchored, and each prefix
# character matched one way only, so a search takes linear time even on "<<<<<<...".
TEMPLATE_PATTERN = r"^(?:[^<]|<(?!<))*<<[\s\S]*>>|^(?:[^{]|\{(?!\{))*\{\{[\s\S]*\}\}"

TEMPLATE: dict[str, Any] = {
    "title": "Template",
    "description": "Text holding <<path>> or {{path}}, rendered when the workflow runs.",
    "type": "string",
    "pattern": TEMPLATE_PATTERN,
}

COMMA_LIST: dict[str, Any] = {
    "title": "Comma-separated list",
    "description": "Values separated by commas (spring,newsletter); each may be a template.",
    "type": "string",
    "minLength": 1,
}

# Describe the value, not the form: left out of a mapped field's literal branch.
_FORM_ONLY = ("title", "description", "default", "examples")
_SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean"})


def _is_plain_list(spec: InputSpec, literal: dict[str, Any]) -> bool:
    """A list of scalars, which the runtime also reads from "a,b,c"."""
    if spec.type == "multi-select":
        return True
    return spec.type == "array" and literal.get("items", {}).get("type") in _SCALAR_TYPES


def _mapped_field(spec: InputSpec, literal: dict[str, Any]) -> dict[str, Any]:
    value = {k: v for k, v in literal.items() if k not in _FORM_ONLY}
    branches = [value, TEMPLATE]
    if _is_plain_list(spec, literal):
        # Templates are rendered inside lists too: ["spring", "<<trigger.tag>>"].
        value["items"] = {"anyOf": [value["items"], TEMPLATE]}
        branches.append(COMMA_LIST)
    field: dict[str, Any] = {k: literal[k] for k in ("title", "description") if k in literal}
    field["anyOf"] = branches
    return field


def mapped_inputs_schema(action: ActionSpec) -> dict[str, Any]:
    """What a builder may save for `action`: each field a literal or a template string."""
    form = inputs_json_schema(action)
    properties = form["properties"]
    return {
        **form,
        "properties": {
            spec.key: _mapped_field(spec, properties[spec.key]) for spec in action.inputs
        },
    }


_WIDGETS = {"text": "textarea", "multi-select": "checkboxes"}


def ui_schema(action: ActionSpec) -> dict[str, Any]:
    """react-jsonschema-form's uiSchema: field order, and widgets the JSON type cannot say."""
    ui: dict[str, Any] = {"ui:order": [spec.key for spec in action.inputs]}
    for spec in action.inputs:
        if spec.type in _WIDGETS:
            ui[spec.key] = {"ui:widget": _WIDGETS[spec.type]}
    return ui
