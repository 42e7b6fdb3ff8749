"""Derive the structural facts of Bitly API v4 from its OpenAPI description.

Reads Bitly's OpenAPI 3.0 file (not shipped with the project) and writes
`connector/vendor/bitly_v4_facts.json`: per operation its id, method, path, premium flag,
parameters, request body schema and response schemas, with every `$ref` resolved inline,
`allOf` merged, `nullable` turned into JSON Schema, and all prose (descriptions, summaries,
titles, examples) dropped, so the project keeps facts and not the vendor's text.

Usage: python tools/derive_bitly_facts.py [SPEC] [OUT]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_SPEC = Path("/work/shared/reference/bitly-v4-openapi.json")
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "connector" / "vendor" / "bitly_v4_facts.json"

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# Schema keywords kept; everything else (description, example, title, x-faker ...) is prose
# or tooling noise. `properties` keys are property names and are always kept.
KEPT_KEYWORDS = {
    "type",
    "properties",
    "items",
    "required",
    "enum",
    "default",
    "additionalProperties",
    "format",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "oneOf",
    "anyOf",
}


class Resolver:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ValueError(f"external $ref not supported: {ref}")
        node: Any = self.spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def schema(self, node: Any, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        """A resolved, prose-free copy of a schema; a recursive reference becomes `{}`."""
        if not isinstance(node, dict):
            return {}
        if "$ref" in node:
            ref = node["$ref"]
            if ref in stack:
                return {}  # recursion: accept anything below this point
            return self.schema(self.lookup(ref), (*stack, ref))
        if "allOf" in node:
            return self._merge([self.schema(part, stack) for part in node["allOf"]], node, stack)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in KEPT_KEYWORDS:
                continue
            if key == "properties":
                out[key] = {name: self.schema(sub, stack) for name, sub in value.items()}
            elif key == "items":
                out[key] = self.schema(value, stack)
            elif key == "additionalProperties":
                out[key] = value if isinstance(value, bool) else self.schema(value, stack)
            elif key in ("oneOf", "anyOf"):
                out[key] = [self.schema(sub, stack) for sub in value]
            else:
                out[key] = value
        if node.get("nullable") and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "properties" in out and "type" not in out:
            out["type"] = "object"
        return out

    def _merge(
        self, parts: list[dict[str, Any]], node: dict[str, Any], stack: tuple[str, ...]
    ) -> dict[str, Any]:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        if rest:
            parts.append(self.schema(rest, stack))
        merged: dict[str, Any] = {}
        for part in parts:
            if part.get("type") not in (None, "object") or not set(part) <= {
                "type",
                "properties",
                "required",
                "additionalProperties",
            }:
                return {"allOf": parts}  # not a plain object union; let jsonschema combine
            merged.setdefault("properties", {}).update(part.get("properties", {}))
            for name in part.get("required", []):
                merged.setdefault("required", [])
                if name not in merged["required"]:
                    merged["required"].append(name)
        merged["type"] = "object"
        return merged


def derive(spec: dict[str, Any]) -> dict[str, Any]:
    resolver = Resolver(spec)
    operations = []
    for path, item in spec["paths"].items():
        shared_params = item.get("parameters", [])
        for method in HTTP_METHODS:
            op = item.get(method)
            if op is None:
                continue
            path_params: list[str] = []
            query_params: dict[str, Any] = {}
            for raw in [*shared_params, *op.get("parameters", [])]:
                param = resolver.lookup(raw["$ref"]) if "$ref" in raw else raw
                name = param["name"]
                if param["in"] == "path":
                    path_params.append(name)
                elif param["in"] == "query":
                    query_params[name] = {
                        "name": name,
                        "required": bool(param.get("required", False)),
                        "schema": resolver.schema(param.get("schema", {})),
                    }
            body_schema = None
            body_required = False
            if "requestBody" in op:
                body = op["requestBody"]
                body = resolver.lookup(body["$ref"]) if "$ref" in body else body
                content = body.get("content", {})
                media = content.get("application/json") or next(iter(content.values()), {})
                body_schema = resolver.schema(media.get("schema", {}))
                body_required = bool(body.get("required", False))
            responses: dict[str, Any] = {}
            for status, resp in op.get("responses", {}).items():
                resp = resolver.lookup(resp["$ref"]) if "$ref" in resp else resp
                content = resp.get("content") or {}
                media = content.get("application/json") or next(iter(content.values()), None)
                responses[status] = resolver.schema(media["schema"]) if media else None
            operations.append(
                {
                    "operation_id": op["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "premium": bool(op.get("x-premium", False)),
                    "path_params": path_params,
                    "query_params": query_params,
                    "body_schema": body_schema,
                    "body_required": body_required,
                    "responses": dict(sorted(responses.items())),
                }
            )
    operations.sort(key=lambda o: (o["path"], o["method"]))
    return {
        "api_version": spec.get("info", {}).get("version", ""),
        "server": (spec.get("servers") or [{}])[0].get("url", ""),
        # A Bitlink is `domain/hash`: these path parameters span two segments.
        "two_segment_params": ["bitlink", "custom_bitlink"],
        "operations": operations,
    }


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SPEC
    out_path = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    facts = derive(json.loads(spec_path.read_text(encoding="utf-8")))
    out_path.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(facts['operations'])} operations -> {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
