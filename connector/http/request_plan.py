"""A manifest's declarative request, compiled once per action and filled once per call.

Compiling reads the request's templates once: which optional inputs each query or body key
reads (a key whose template names an input that was not given is left out). Filling renders
the kept keys against the call's inputs; the path is filled by the client's path builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.catalog.templates import render, template_references
from connector.http.translate import _field

__all__ = ["RequestPlan"]


@dataclass(frozen=True)
class _Key:
    name: str
    template: Any
    #: the inputs its templates read (`inputs.x...` -> "x"): all must be given
    reads: frozenset[str]


@dataclass(frozen=True)
class _Part:
    """A query or body: a mapping of keys, each kept only when its inputs are given; or one
    value rendered as a whole (a body that is a template or a list)."""

    keys: tuple[_Key, ...] | None
    whole: Any = None

    @classmethod
    def of(cls, spec: Any) -> _Part | None:
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            return cls(None, spec)
        return cls(tuple(_Key(str(k), v, _inputs_read(v)) for k, v in spec.items()))

    def fill(self, inputs: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
        if self.keys is None:
            return render(self.whole, context)
        return {
            key.name: render(key.template, context)
            for key in self.keys
            if all(name in inputs for name in key.reads)
        }


def _inputs_read(value: Any) -> frozenset[str]:
    names = set()
    for ref in template_references(value):
        root, _, rest = ref.partition(".")
        if root == "inputs":
            names.add(rest.split(".")[0])
    return frozenset(names)


@dataclass(frozen=True)
class RequestPlan:
    method: str
    path: str
    query: _Part | None
    body: _Part | None

    @classmethod
    def compile(cls, request: Any) -> RequestPlan:
        """Raises TemplateError for a template that does not parse."""
        return cls(
            method=str(_field(request, "method", "GET")).upper(),
            path=str(_field(request, "path")),
            query=_Part.of(_field(request, "query")),
            body=_Part.of(_field(request, "body")),
        )

    def fill(self, inputs: Mapping[str, Any]) -> tuple[dict[str, Any] | None, Any]:
        """The query parameters and the body for one call."""
        context = {"inputs": dict(inputs)}
        params = self.query.fill(inputs, context) if self.query is not None else None
        body = self.body.fill(inputs, context) if self.body is not None else None
        return params, body
