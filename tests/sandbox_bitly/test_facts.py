"""The derived Bitly facts: prose-free, complete, and the path/parameter helpers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from connector.sandbox.bitly.facts import FACTS_PATH, load_bitly_facts

SPEC = Path("/work/shared/reference/bitly-v4-openapi.json")
TOOL = Path(__file__).resolve().parents[2] / "tools" / "derive_bitly_facts.py"


def _keywords(node: object, in_properties: bool = False) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not in_properties:
                found.add(key)
            found |= _keywords(value, key == "properties" and not in_properties)
    elif isinstance(node, list):
        for item in node:
            found |= _keywords(item)
    return found


def test_facts_hold_no_prose_and_no_refs() -> None:
    facts = json.loads(FACTS_PATH.read_text(encoding="utf-8"))
    assert len(facts["operations"]) == 62
    schemas = [
        s
        for op in facts["operations"]
        for s in [op["body_schema"], *op["responses"].values()]
        + [p["schema"] for p in op["query_params"].values()]
    ]
    keywords = _keywords(schemas)
    assert not keywords & {"description", "example", "examples", "title", "summary", "$ref"}


@pytest.mark.skipif(not SPEC.exists(), reason="Bitly's OpenAPI file is not in this checkout")
def test_facts_file_is_what_the_tool_derives() -> None:
    spec = importlib.util.spec_from_file_location("derive_bitly_facts", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    derived = module.derive(json.loads(SPEC.read_text(encoding="utf-8")))
    assert derived == json.loads(FACTS_PATH.read_text(encoding="utf-8"))


def test_find_and_two_segment_path_params() -> None:
    facts = load_bitly_facts()
    op = facts.find("get", "/bitlinks/{bitlink}/clicks")
    assert op is not None and op.operation_id == "getClicksForBitlink"
    match, known = facts.match_path("GET", "/bitlinks/bit.ly/abc/clicks")
    assert known
    assert match is not None and match.params == {"bitlink": "bit.ly/abc"}
    match, _ = facts.match_path("GET", "/custom_bitlinks/sbx.ly/launch/clicks_by_destination")
    assert (
        match is not None and match.operation.operation_id == "getCustomBitlinkMetricsByDestination"
    )
    assert facts.match_path("POST", "/bitlinks/bit.ly/abc/clicks") == (None, True)
    for path in ("/bitlinks/bit.ly/x/../../user", "/bitlinks/bit.ly%2Fx", "//user", "/user/"):
        assert facts.match_path("GET", path) == (None, False), path


def test_query_coercion_and_defaults() -> None:
    op = load_bitly_facts().find("GET", "/groups/{group_guid}/bitlinks")
    assert op is not None
    values, problems = op.check_query([("size", "10"), ("tags", "a"), ("tags", "b")])
    assert problems == []
    assert values["size"] == 10 and values["tags"] == ["a", "b"] and values["archived"] == "off"
    _, problems = op.check_query([("created_after", "yesterday")])
    assert [p.field for p in problems] == ["created_after"]
    clicks = load_bitly_facts().find("GET", "/bitlinks/{bitlink}/clicks")
    assert clicks is not None
    # "required" with a default in the description: optional, the default applies
    values, problems = clicks.check_query([])
    assert problems == [] and (values["unit"], values["units"]) == ("day", -1)
