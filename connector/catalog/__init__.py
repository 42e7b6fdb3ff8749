"""The action catalog: manifests, typed inputs and templates.

load_catalog()            -> Catalog (apps, actions, get, prepare_inputs, static_input_errors)
templates.render(v, ctx)  one sandboxed template environment: <<path>> and {{path}}
template_references(v)    dotted paths a value's templates read
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.catalog.catalog import Catalog
from connector.catalog.loader import ManifestError, load_or_raise
from connector.catalog.models import (
    ActionRateLimit,
    ActionSpec,
    AppSpec,
    Bucket,
    ErrorBody,
    ErrorRule,
    InputSpec,
    Note,
    Option,
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
    "ErrorBody",
    "ErrorRule",
    "InputSpec",
    "ManifestError",
    "Note",
    "Option",
    "RateLimits",
    "RequestSpec",
    "SandboxSpec",
    "load_catalog",
    "render",
    "template_references",
]


def load_catalog(root: Path | None = None) -> Catalog:
    """Load the installed apps and $CONNECTOR_MANIFESTS' (see connector.plugins), or the app
    folders under `root` alone.

    Raises InvalidConfiguration listing every problem, each naming file and field.
    """
    result = load_or_raise(root)
    return Catalog(root=result.root, apps=result.apps, actions=result.actions)


def __getattr__(name: str) -> Any:
    # The template engine (Jinja) loads on first use: listing the catalog never needs it.
    if name in ("render", "template_references"):
        from connector.catalog import templates

        return getattr(templates, name)
    raise AttributeError(f"module 'connector.catalog' has no attribute {name!r}")
