"""Reading manifests from disk: YAML -> pydantic models -> cross-field rules -> typed specs.

`read_manifests` never raises on a bad manifest: it returns every problem it found, each
naming the file and the field, so `connector catalog validate` can report them all at once.
`load_catalog` raises one InvalidConfiguration listing them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connector.catalog.model_errors import describe_errors, field_path
from connector.catalog.models import MANIFEST, ActionSpec, AppSpec, Model, shape_refs
from connector.errors import InvalidConfiguration, InvalidInput
from connector.plugins import AppSource, catalog_sources, qualify, qualify_handlers
from connector.safe_load import load_yaml, read_text

__all__ = [
    "LoadResult",
    "ManifestError",
    "display_path",
    "field_path",
    "load_or_raise",
    "manifest_problems",
    "raise_for_errors",
    "read_manifests",
]

#: which model a manifest file is: app.yaml is the app, every other file an action
MODELS: dict[str, type[Model]] = {"app": AppSpec, "action": ActionSpec}


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
    errors: list[ManifestError] = field(default_factory=list)


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


def _action_rules(action: ActionSpec, stem: str) -> Iterator[tuple[str, str]]:
    """Cross-field rules a typed ActionSpec relies on, one small check each."""
    if action.key != stem:
        yield "key", f"'{action.key}' does not match the file name '{stem}'"
    if (action.request is None) == (action.handler is None):
        yield "request", "give exactly one of request and handler"
    seen: set[str] = set()
    for i, spec in enumerate(action.inputs):
        if spec.key in seen:
            yield f"inputs[{i}].key", f"duplicate input key '{spec.key}'"
        seen.add(spec.key)
    yield from _write_safety_rules(action, seen)


def _write_safety_rules(action: ActionSpec, inputs: set[str]) -> Iterator[tuple[str, str]]:
    """A strategy the action can honour (see connector/engine/writes.py)."""
    safety = action.write_safety
    if safety is None:
        return
    strategy, key_input = safety.strategy, safety.key_input
    if strategy == "resend" and not action.idempotent:
        yield "write_safety.strategy", "resend repeats the request: only for idempotent actions"
    if strategy in ("read_back", "client_key") and action.reconcile is None:
        yield "write_safety.strategy", f"{strategy} reads the write back: declare reconcile"
    if (strategy == "client_key") != bool(key_input):
        yield "write_safety.key_input", "client_key needs key_input (and only client_key)"
    elif key_input and key_input.partition("[].")[0] not in inputs:
        yield "write_safety.key_input", f"'{key_input}' does not name an input"


def _shape_rules(action: ActionSpec, app: AppSpec | None) -> Iterator[tuple[str, str]]:
    """Every `#/$defs/<name>` an output schema names is its own or one of its app's shapes."""
    own = action.output.schema_.get("$defs") or {}
    shapes = app.shapes if app else {}
    for name in sorted(shape_refs(action.output.schema_) - set(own)):
        if name not in shapes:
            known = ", ".join(sorted(shapes)) or "none"
            yield "output.schema", f"'#/$defs/{name}' names no shape of the app (shapes: {known})"


def parse_manifest(definition: str, data: Any) -> tuple[Model | None, list[tuple[str, str]]]:
    """The model of one manifest, or None and (field, message) for every problem found:
    YAML surprises first, then the model's own checks."""
    problems = list(_non_json(data, []))
    if problems:
        return None, problems
    model = MODELS[definition]
    try:
        return model.model_validate(data, context=MANIFEST), []
    except ValidationError as exc:
        return None, sorted(set(describe_errors(model, exc)))


def manifest_problems(definition: str, data: Any, stem: str | None = None) -> list[tuple[str, str]]:
    """(field, message) for one manifest: YAML surprises, the model, then cross-field rules."""
    spec, problems = parse_manifest(definition, data)
    if isinstance(spec, ActionSpec):
        problems = list(_action_rules(spec, stem if stem is not None else spec.key))
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
        problems: list[tuple[str, str]] = []
        if definition == "action" and isinstance(data, dict):
            # ".module:function" names resolve against the app's handler package
            data, problems = qualify_handlers(data, source.handlers)
        elif definition == "app" and isinstance(data, dict):
            data, problems = _qualify_learn(data, source.handlers)
        spec, found = parse_manifest(definition, data)
        problems += found
        if isinstance(spec, AppSpec):
            spec.bind(app, path)
            result.apps[app] = spec
        elif isinstance(spec, ActionSpec):
            problems += _action_rules(spec, path.stem)
            problems += _shape_rules(spec, result.apps.get(app))
            if not problems:
                spec.bind(app, path, result.apps.get(app))
                result.actions[spec.id] = spec
        result.errors.extend(ManifestError(shown, f, m) for f, m in problems)


def _qualify_learn(
    data: dict[str, Any], package: str | None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """rate_limits.learn names a module, relative to the app's handler package too."""
    limits = data.get("rate_limits")
    learn = limits.get("learn") if isinstance(limits, dict) else None
    if not isinstance(learn, str) or not isinstance(limits, dict):
        return data, []
    try:
        whole = qualify(learn, package)
    except ValueError as exc:
        # Parsed without it, so the model does not report the same field a second time.
        rest = {k: v for k, v in limits.items() if k != "learn"}
        return {**data, "rate_limits": rest}, [("rate_limits.learn", str(exc))]
    return {**data, "rate_limits": {**limits, "learn": whole}}, []


def raise_for_errors(root: Path | None, errors: list[ManifestError]) -> None:
    """One InvalidConfiguration listing the problems (each naming file and field), if any."""
    if not errors:
        return
    listed = "\n  ".join(str(e) for e in errors[:20])
    more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
    raise InvalidConfiguration(
        f"{len(errors)} problem(s) in the manifests "
        f"(run `connector catalog validate`):\n  {listed}{more}",
        where=str(root) if root is not None else None,
    )


def load_or_raise(root: Path | None = None) -> LoadResult:
    result = read_manifests(root)
    raise_for_errors(result.root, result.errors)
    return result
