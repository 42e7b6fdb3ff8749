"""`connector catalog validate`: every check a manifest set must pass, naming file and field.

Beyond the models and the loader's cross-field rules: samples valid against their output
schema, request templates naming declared inputs, handler and reconcile names that import,
option defaults among the options, rate buckets that exist, and, for each app that ships vendor
facts (connector.plugins), each declarative request checked against them (method + path, query
parameters, body).
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from connector.catalog.inputs import coerce_input
from connector.catalog.loader import (
    LoadResult,
    ManifestError,
    display_path,
    field_path,
    read_manifests,
)
from connector.catalog.models import MISSING, ActionSpec, AppSpec
from connector.catalog.operations import operation_problems
from connector.catalog.options import options_problems
from connector.catalog.templates import template_references
from connector.errors import ConnectorError

__all__ = ["validate_catalog"]

Problem = tuple[str, str]  # (field, message)
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _near(word: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean '{near[0]}'?)" if near else ""


@cache
def _metaschema() -> Draft202012Validator:
    # One validator of the 2020-12 metaschema for every output schema: building it resolves
    # the metaschema's vocabularies, which costs more than checking a schema with it.
    return Draft202012Validator(Draft202012Validator.META_SCHEMA)


def check_output(action: ActionSpec) -> Iterator[Problem]:
    error = best_match(_metaschema().iter_errors(action.output_schema))
    if error is not None:
        yield field_path(["output", "schema", *error.absolute_path]), error.message[:160]
        return
    validator = Draft202012Validator(action.output_schema)
    for error in validator.iter_errors(action.output_sample):
        where = field_path(["output", "sample", *error.absolute_path])
        yield where, f"does not match the output schema: {error.message[:160]}"


def check_templates(action: ActionSpec) -> Iterator[Problem]:
    """Request templates may read only `inputs.<declared key>`; path names must be inputs."""
    request = action.request
    if request is None:
        return
    keys = action.input_keys
    parts: list[tuple[str, Any]] = [("request.path", request.path)]
    parts += [(f"request.query.{k}", v) for k, v in request.query.items()]
    if isinstance(request.body, dict):
        parts += [(f"request.body.{k}", v) for k, v in request.body.items()]
    elif request.body is not None:
        parts.append(("request.body", request.body))
    for where, value in parts:
        try:
            refs = template_references(value)
        except ConnectorError as exc:
            yield where, exc.message
            continue
        for ref in refs:
            root, _, rest = ref.partition(".")
            name = re.split(r"[.\[]", rest)[0] if rest else ""
            if root != "inputs":
                yield where, f"templates in a request may read only inputs.<key>, not '{ref}'"
            elif name not in keys:
                yield where, f"'{ref}' names an undeclared input{_near(name, keys)}"
    for name in _PATH_PARAM.findall(request.path):
        spec = action.input(name)
        if spec is None:
            yield "request.path", f"{{{name}}} is not a declared input{_near(name, keys)}"
        elif not spec.required and not spec.has_default:
            yield "request.path", f"{{{name}}} names optional input '{name}'; make it required"


def _importable(dotted: str) -> str | None:
    module_name, _, attr = dotted.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return f"cannot import '{module_name}': {exc}"
    if not callable(getattr(module, attr, None)):
        return f"'{module_name}' has no function '{attr}'"
    return None


def check_code(action: ActionSpec) -> Iterator[Problem]:
    for name in ("handler", "reconcile"):
        dotted = getattr(action, name)
        if dotted:
            problem = _importable(dotted)
            if problem:
                yield name, problem
    trigger = action.trigger
    for name in ("subscribe", "unsubscribe"):
        dotted = getattr(trigger, name, None)
        if dotted:
            problem = _importable(dotted)
            if problem:
                yield f"trigger.{name}", problem


def check_inputs(action: ActionSpec, app: AppSpec | None) -> Iterator[Problem]:
    for i, spec in enumerate(action.inputs):
        where = f"inputs[{i}]"
        choice = spec.type in ("options", "multi-select")
        if choice and not spec.options:
            yield f"{where}.options", f"an input of type {spec.type} needs options"
        if spec.options and not choice:
            yield (
                f"{where}.options",
                f"options are only for options and multi-select, not {spec.type}",
            )
        # JSON Schema tells true from 1; a builder could not tell two equal values apart.
        values = [(isinstance(v, bool), v) for v in spec.option_values]
        if len(set(values)) != len(values):
            yield f"{where}.options", "two options have the same value"
        for attr in ("default", "example"):
            value = getattr(spec, attr)
            if value is MISSING or (attr == "example" and spec.format == "bitlink"):
                continue
            try:
                coerce_input(spec, value)
            except Exception as exc:  # _Bad: the message says what was expected
                allowed = ", ".join(repr(v) for v in spec.option_values)
                hint = f" (options: {allowed})" if choice else ""
                yield f"{where}.{attr}", f"{value!r} is not valid: expected {exc}{hint}"
    if action.rate_limit:
        buckets = sorted(app.rate_limits.buckets) if app else []
        if action.rate_limit.bucket not in buckets:
            yield (
                "rate_limit.bucket",
                (
                    f"'{action.rate_limit.bucket}' is not a bucket of the app's rate_limits"
                    f"{_near(action.rate_limit.bucket, buckets)}"
                ),
            )
        cost = action.rate_limit.cost_input
        if cost and (action.input(cost) is None or action.input(cost).type != "array"):  # type: ignore[union-attr]
            yield "rate_limit.cost_input", f"'{cost}' is not an array input of this action"
    for key in action.sample_request:
        if key not in action.input_keys:
            yield f"sample_request.{key}", f"not an input{_near(key, action.input_keys)}"


def check_vendor_request(action: ActionSpec, app: AppSpec | None = None) -> Iterator[Problem]:
    """A declarative request must be an operation of the vendor's API facts, with its
    parameters and body (apps that ship no facts are not checked)."""
    request = action.request
    if request is None:
        return
    from connector.vendor import load_vendor_facts

    facts = load_vendor_facts(action.app)
    if facts is None:
        return
    operation = facts.find(request.method, request.path)
    if operation is None:
        known = sorted({op.path for op in facts.operations})
        hint = _near(request.path, known)
        vendor = app.name if app is not None else action.app
        label = f"{request.method} {request.path}"
        yield "request.path", f"{label} is not a {vendor} API operation{hint}"
        return
    label = f"{request.method} {request.path}"
    params = sorted(operation.query_params)
    for key in request.query:
        if key not in operation.query_params:
            yield f"request.query.{key}", f"not a parameter of {label}{_near(key, params)}"
    for name, param in operation.query_params.items():
        if param.required and name not in request.query:
            yield "request.query", f"{label} requires the query parameter '{name}'"
    schema = operation.body_schema
    body = request.body
    if schema is None:
        if body is not None:
            yield "request.body", f"{label} takes no body"
        return
    properties = sorted(schema.get("properties") or {})
    if isinstance(body, dict):
        for key in body:
            if properties and key not in properties:
                yield (
                    f"request.body.{key}",
                    f"not a property of the {label} body{_near(key, properties)}",
                )
        for key in schema.get("required") or []:
            if key not in body:
                yield "request.body", f"{label} requires the body property '{key}'"
    elif body is None and operation.body_required:
        yield "request.body", f"{label} requires a body"


_ACTION_CHECKS: tuple[Callable[[ActionSpec], Iterator[Problem]], ...] = (
    check_output,
    check_templates,
    check_code,
    operation_problems,
)


def validate_catalog(root: Path | None = None) -> tuple[LoadResult, list[ManifestError]]:
    """Every problem of the manifest set under `root`, sorted by file."""
    result = read_manifests(root)
    errors = list(result.errors)
    for action in result.actions.values():
        app = result.apps.get(action.app)
        shown = display_path(action.source) if action.source else action.id
        found: list[Problem] = []
        for check in _ACTION_CHECKS:
            found.extend(check(action))
        found.extend(check_inputs(action, app))
        found.extend(check_vendor_request(action, app))
        found.extend(options_problems(action, result.actions))
        errors.extend(ManifestError(shown, f, m) for f, m in found)
    for key, app in result.apps.items():
        shown = display_path(app.source) if app.source else key
        errors.extend(
            ManifestError(shown, f, m)
            for f, m in credential_test_problems(key, app, result.actions)
        )
    return result, sorted(set(errors))


def credential_test_problems(
    key: str, app: AppSpec, actions: Mapping[str, ActionSpec]
) -> Iterator[Problem]:
    """The app's credential test names one of its actions, one that never writes."""
    test = app.credential.test
    if test is None:
        return
    action = actions.get(f"{key}.{test.action}")
    if action is None:
        yield "credential.test.action", f"no action '{test.action}' in {key}"
    elif not action.idempotent:
        yield "credential.test.action", f"{action.id} writes; a credential test must only read"
