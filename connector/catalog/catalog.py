"""The loaded catalog: apps and actions by id, and input preparation for a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.catalog.inputs import nearest, raise_for, validate_inputs
from connector.catalog.models import ActionSpec, AppSpec
from connector.errors import FieldError, InvalidConfiguration, InvalidInput
from connector.lazy_array import LazyArray

__all__ = ["Catalog"]


@dataclass
class Catalog:
    """Apps by key ("bitly") and actions by id ("bitly.get_bitlink")."""

    root: Path | None
    apps: dict[str, AppSpec] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    #: passed every check of `connector catalog validate` (load_catalog); only such a
    #: catalog prepares inputs for a run (one from read_catalog is for listing)
    checked: bool = False

    def get(self, action_id: str) -> ActionSpec:
        """The action, or InvalidInput naming the id and the nearest known one."""
        try:
            return self.actions[action_id]
        except KeyError:
            hint = nearest(action_id, sorted(self.actions))
            raise InvalidInput(
                f"unknown action '{action_id}'{hint}; `connector catalog list` shows them all"
            ) from None

    def app_of(self, action_id: str) -> AppSpec:
        return self.apps[self.get(action_id).app]

    def prepare_inputs(
        self, action_id: str, raw: Mapping[str, Any], context: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Render templates, coerce to the declared types, apply defaults, validate.

        Raises TemplateError (naming the input) or InvalidInput listing every bad input.
        """
        prepared, problems = self.resolve_inputs(action_id, raw, context, collect=False)
        raise_for(action_id, problems)
        return prepared

    def resolve_inputs(
        self,
        action_id: str,
        raw: Mapping[str, Any],
        context: Mapping[str, Any],
        *,
        collect: bool = True,
    ) -> tuple[dict[str, Any], list[FieldError]]:
        """`prepare_inputs` without raising: the prepared inputs and every problem (a
        template that fails is one problem of its input). `collect=False` raises a
        template's TemplateError as it happens (what a run does)."""
        self._require_checked()
        action = self.get(action_id)
        # Here, not at the top: listing the catalog needs no template engine (jinja2).
        from connector.catalog.templates import render

        rendered: dict[str, Any] = {}
        failed: list[FieldError] = []
        for key, value in raw.items():
            if value is None or type(value) in (int, float, bool):
                # A number, boolean or null holds no template: no need to name where it is.
                rendered[key] = value
                continue
            try:
                where = f"{action_id}: input '{key}'"
                rendered[key] = render(value, context, where=where)
                if isinstance(rendered[key], LazyArray):  # a loop's items, as one value: bounded
                    rendered[key] = rendered[key].as_list(where)
            except InvalidInput as exc:
                if not collect:
                    raise
                failed.append(FieldError(key, exc.message, "template"))
        prepared, problems = validate_inputs(action, rendered)
        templated = {p.field for p in failed}
        return prepared, failed + [p for p in problems if p.field not in templated]

    def _require_checked(self) -> None:
        if not self.checked:
            raise InvalidConfiguration(
                "this catalog was read to be listed (read_catalog), not checked to run: "
                "load it with load_catalog()"
            )

    def static_input_errors(self, action_id: str, raw: Mapping[str, Any]) -> list[FieldError]:
        """Problems visible before any template is rendered.

        Unknown keys (with the nearest valid one), missing required inputs, and literal values
        that cannot be coerced; a value holding a template is not judged.
        """
        self._require_checked()
        action = self.get(action_id)
        from connector.catalog.templates import has_template  # as in prepare_inputs

        literal = {k: v for k, v in raw.items() if not has_template(v)}
        _, problems = validate_inputs(action, literal, check_missing=False)
        for spec in action.inputs:
            if spec.required and not spec.has_default:
                value = raw.get(spec.key)
                if value is None or value == "" or value == []:
                    message = f"required ({spec.label}); no value given"
                    problems.append(FieldError(spec.key, message))
        return problems
