"""The action catalog: manifests, typed inputs and templates.

load_catalog()            -> Catalog for running: every `catalog validate` check, fails closed
read_catalog()            -> Catalog for listing: the models' checks only (cheap)
templates.render(v, ctx)  one sandboxed template environment: <<path>> and {{path}}
template_references(v)    dotted paths a value's templates read
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.catalog.catalog import Catalog
from connector.catalog.loader import ManifestError, load_or_raise, raise_for_errors
from connector.catalog.models import (
    ActionRateLimit,
    ActionSpec,
    AppSpec,
    Bucket,
    Credential,
    ErrorBody,
    ErrorRule,
    InputSpec,
    Note,
    Option,
    OutputSpec,
    RateLimits,
    RequestSpec,
    SandboxSpec,
)

if TYPE_CHECKING:
    from connector.catalog.templates import render, template_references

__all__ = [
    "ActionRateLimit",
    "ActionSpec",
    "AppSpec",
    "Bucket",
    "Catalog",
    "Credential",
    "ErrorBody",
    "ErrorRule",
    "InputSpec",
    "ManifestError",
    "Note",
    "Option",
    "OutputSpec",
    "RateLimits",
    "RequestSpec",
    "SandboxSpec",
    "load_catalog",
    "read_catalog",
    "render",
    "template_references",
]


def read_catalog(root: Path | None = None) -> Catalog:
    """The installed apps and $CONNECTOR_MANIFESTS' (see connector.plugins), or the app
    folders under `root` alone, checked against the models and their cross-field rules:
    enough to list, describe and export actions, and cheap (no template engine, no JSON
    Schema validator, no handler imported).

    Raises InvalidConfiguration listing every problem, each naming file and field.
    """
    result = load_or_raise(root)
    return Catalog(root=result.root, apps=result.apps, actions=result.actions)


def load_catalog(root: Path | None = None) -> Catalog:
    """The catalog for running (the same apps as read_catalog): fails closed.

    Everything `connector catalog validate` checks is checked here (templates naming
    declared inputs, requests against the vendor's API facts, handlers that import, samples
    valid against their output schema, ...); a catalog with any problem does not load, with
    InvalidConfiguration listing every problem by file and field. Each action's input
    checks are compiled here, once.
    """
    # Imported here, not at the top: listing the catalog (read_catalog) must stay cheap.
    from connector.catalog.inputs import input_plan
    from connector.catalog.validate import validate_catalog

    result, errors = validate_catalog(root)
    raise_for_errors(result.root, errors)
    for action in result.actions.values():
        input_plan(action)
    return Catalog(root=result.root, apps=result.apps, actions=result.actions, checked=True)


def __getattr__(name: str) -> Any:
    # The template engine (jinja2) is imported when a template is first used, not when the
    # catalog is listed.
    if name in ("render", "template_references"):
        return getattr(import_module("connector.catalog.templates"), name)
    raise AttributeError(f"module 'connector.catalog' has no attribute {name!r}")
