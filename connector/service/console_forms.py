"""An action's form as the console draws it, derived from the builder export's input schema
(the same document builders get from `GET /v1/catalog`): one field per input, its widget
chosen from `x-connector-type`, fixed choices from `oneOf`, dynamic ones (`x-connector-
options`) loaded on request through the options endpoint's code path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FormField", "form_fields", "form_inputs"]

#: x-connector-type -> HTML input type (the rest are text boxes)
_INPUT_TYPES = {"url": "url", "integer": "number", "number": "number"}


@dataclass
class FormField:
    key: str
    label: str
    description: str
    required: bool
    #: "input", "select", "textarea"
    widget: str
    input_type: str = "text"
    #: (value, label) pairs of a select
    choices: list[tuple[str, str]] = field(default_factory=list)
    #: the input's options come from another action (a "Load options" button)
    dynamic: bool = False
    depends_on: list[str] = field(default_factory=list)
    placeholder: str = ""
    minimum: Any = None
    maximum: Any = None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def form_fields(action: dict[str, Any]) -> list[FormField]:
    schema = action.get("inputs") or {}
    required = set(schema.get("required") or [])
    fields = []
    for key, prop in (schema.get("properties") or {}).items():
        kind = prop.get("x-connector-type", prop.get("type", "string"))
        dynamic = prop.get("x-connector-options")
        example = (prop.get("examples") or [None])[0]
        default = prop.get("default")
        placeholder = _text(default if default is not None else example)
        item = FormField(
            key=key,
            label=str(prop.get("title") or key),
            description=str(prop.get("description") or ""),
            required=key in required,
            widget="input",
            input_type=_INPUT_TYPES.get(kind, "text"),
            dynamic=dynamic is not None,
            depends_on=list((dynamic or {}).get("depends_on") or []),
            placeholder=placeholder,
            minimum=prop.get("minimum"),
            maximum=prop.get("maximum"),
        )
        if prop.get("oneOf"):
            item.widget = "select"
            item.choices = [(_text(c.get("const")), str(c.get("title") or c.get("const")))
                            for c in prop["oneOf"]]  # fmt: skip
        elif kind == "boolean":
            item.widget = "select"
            item.choices = [("true", "yes"), ("false", "no")]
        elif kind in ("object", "text") or prop.get("type") == "object":
            item.widget = "textarea"
        fields.append(item)
    return fields


def form_inputs(fields: list[FormField], form: dict[str, str]) -> dict[str, Any]:
    """The inputs a form gives, as text (coerced by the catalog like the CLI's `--input`);
    blank fields are left out, so defaults apply."""
    inputs: dict[str, Any] = {}
    for item in fields:
        value = form.get(f"in.{item.key}", "")
        if value.strip() != "":
            inputs[item.key] = value
    return inputs
