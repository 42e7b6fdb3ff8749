"""Reading manifests from disk: YAML -> schema check -> cross-field rules -> typed specs.

`read_manifests` never raises on a bad manifest: it returns every problem it found, each
naming the file and the field, so `connector catalog validate` can report them all at once.
`load_catalog` raises one InvalidConfiguration listing them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from connector.catalog.models import ActionSpec, AppSpec, action_from_dict, app_from_dict
from connector.errors import InvalidConfiguration, InvalidInput
from connector.plugins import AppSource, catalog_sources, qualify_handlers
from connector.safe_load import load_yaml, read_text

__all__ = [
    "SCHEMA_PATH",
    "LoadResult",
    "ManifestError",
    "display_path",
    "manifest_problems",
    "manifest_schema",
    "read_manifests",
    "schema_errors",
]

SCHEMA_PATH = Path(__file__).parent / "schema" / "manifest.schema.json"
_MAX_MESSAGE = 160


@dataclass(frozen=True, order=True)
class ManifestError:
    """One problem in one manifest file."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.field}: {self.message}"
            if self.field
            else (f"{self.file}: {self.message}")
        )


@dataclass
class LoadResult:
    #: the folder given to read_manifests, or None for the installed catalog
    root: Path | None
    apps: dict[str, AppSpec] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    #: the raw validated dicts, by file, for checks that need the original text (validate)
    raw: dict[Path, dict[str, Any]] = field(default_factory=dict)
    errors: list[ManifestError] = field(default_factory=list)


@cache
def manifest_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


@cache
def _validator(definition: str) -> Draft202012Validator:
    schema = dict(manifest_schema())
    schema.pop("if", None)
    schema.pop("then", None)
    schema.pop("else", None)
    schema["$ref"] = f"#/$defs/{definition}"
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def field_path(parts: Any) -> str:
    """['inputs', 2, 'type'] -> 'inputs[2].type'."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _describe(error: ValidationError) -> Iterator[tuple[str, str]]:
    where = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(allowed)):
            near = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else f" (allowed: {', '.join(allowed)})"
            yield field_path([*where, key]), f"unknown key{hint}"
    elif error.validator == "required" and isinstance(error.instance, dict):
        for key in error.validator_value:
            if key not in error.instance:
                yield field_path([*where, key]), "required key is missing"
    elif error.validator in ("oneOf", "anyOf") and error.context:
        best = min(error.context, key=lambda e: len(list(e.relative_path)))
        yield field_path(where) or "(top)", _short(best.message)
    else:
        yield field_path(where) or "(top)", _short(error.message)


def schema_errors(definition: str, data: Any) -> list[tuple[str, str]]:
    """(field, message) for every way `data` breaks `$defs/<definition>`."""
    found: list[tuple[str, str]] = []
    for error in _validator(definition).iter_errors(data):
        found.extend(_describe(error))
    return sorted(set(found))


def _non_json(value: Any, where: list[Any]) -> Iterator[tuple[str, str]]:
    # PyYAML turns 2026-04-11 into a date and `on` into True; a manifest must say what it means.
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                yield field_path([*where, str(k)]), f"key {k!r} is not a string (quote it in YAML)"
            yield from _non_json(v, [*where, str(k)])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _non_json(v, [*where, i])
    elif isinstance(value, dt.date | dt.datetime):
        yield field_path(where), f"YAML read {value} as a date; quote it to keep a string"
    elif value is not None and not isinstance(value, str | int | float | bool):
        yield field_path(where), f"unsupported YAML value of type {type(value).__name__}"


def display_path(path: Path) -> str:
    """`manifests/bitly/get_user.yaml`: a manifest named by its app folder and the one above."""
    return str(Path(*path.parts[-3:]))


_FAILED = object()


def _read_yaml(path: Path, shown: str, errors: list[ManifestError]) -> Any:
    try:
        return load_yaml(read_text(path, what="manifest"), shown)
    except InvalidInput as exc:  # syntax, size, depth, aliases, duplicate keys (safe_load)
        line = (exc.where or "").removeprefix(shown).lstrip(":").split(":")[0]
        errors.append(ManifestError(shown, f"line {line}" if line else "", exc.message))
    return _FAILED


def _action_rules(data: dict[str, Any], stem: str) -> Iterator[tuple[str, str]]:
    """Cross-field rules a typed ActionSpec relies on."""
    if data["key"] != stem:
        yield "key", f"'{data['key']}' does not match the file name '{stem}'"
    has_request, has_handler = "request" in data, "handler" in data
    if has_request == has_handler:
        yield "request", "give exactly one of request and handler"
    seen: set[str] = set()
    for i, spec in enumerate(data["inputs"]):
        if spec["key"] in seen:
            yield f"inputs[{i}].key", f"duplicate input key '{spec['key']}'"
        seen.add(spec["key"])


def manifest_problems(definition: str, data: Any, stem: str | None = None) -> list[tuple[str, str]]:
    """(field, message) for one manifest: YAML surprises, the schema, then cross-field rules."""
    problems = list(_non_json(data, [])) or schema_errors(definition, data)
    if not problems and definition == "action":
        problems = list(_action_rules(data, stem if stem is not None else data["key"]))
    return problems


def read_manifests(root: Path | None = None) -> LoadResult:
    """Read every manifest of the installed apps and $CONNECTOR_MANIFESTS (connector.plugins),
    or of the app folders under `root` alone; problems are collected, never raised."""
    sources, problems = catalog_sources(root)
    result = LoadResult(root=Path(root) if root is not None else None)
    result.errors.extend(ManifestError(where, "", message) for where, message in problems)
    for source in sources:
        app_file = source.directory / "app.yaml"
        if not source.directory.is_dir():
            shown, message = str(source.directory), "manifest directory not found"
            result.errors.append(ManifestError(shown, "", f"app '{source.key}': {message}"))
        elif not app_file.is_file():
            shown = display_path(source.directory)
            result.errors.append(ManifestError(shown, "", "app.yaml is missing"))
        else:
            _read_app(source, app_file, result)
    return result


def _read_app(source: AppSource, app_file: Path, result: LoadResult) -> None:
    app, app_dir = source.key, source.directory
    files = [app_file, *sorted(p for p in app_dir.glob("*.y*ml") if p.name != "app.yaml")]
    for path in files:
        shown = display_path(path)
        data = _read_yaml(path, shown, result.errors)
        if data is _FAILED:
            continue
        if data is None:
            result.errors.append(ManifestError(shown, "", "the file is empty"))
            continue
        definition = "app" if path == app_file else "action"
        problems = manifest_problems(definition, data, path.stem)
        if problems:
            result.errors.extend(ManifestError(shown, f, m) for f, m in problems)
            continue
        result.raw[path] = data
        if definition == "app":
            result.apps[app] = app_from_dict(app, data, path)
            continue
        # ".module:function" names resolve against the app's handler package
        data, problems = qualify_handlers(data, source.handlers)
        if problems:
            result.errors.extend(ManifestError(shown, f, m) for f, m in problems)
            continue
        spec = action_from_dict(app, data, path)
        result.actions[spec.id] = spec


def load_or_raise(root: Path | None = None) -> LoadResult:
    result = read_manifests(root)
    if result.errors:
        listed = "\n  ".join(str(e) for e in result.errors[:20])
        more = f"\n  ... and {len(result.errors) - 20} more" if len(result.errors) > 20 else ""
        raise InvalidConfiguration(
            f"{len(result.errors)} problem(s) in the manifests "
            f"(run `connector catalog validate`):\n  {listed}{more}",
            where=str(result.root) if result.root is not None else None,
        )
    return result
