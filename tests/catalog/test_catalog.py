"""The one parametrised test over every action in the catalog.

For each manifest: it loads and passes the catalog's own checks, its sample output is valid
against its output schema, its sample request names only declared inputs, its request agrees
with the vendor's API facts, and a cassette replay (recorded against the sandbox; see
conftest.py for how to re-record) returns output valid against the same schema.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator

from connector.catalog import Catalog, load_catalog
from connector.catalog.validate import check_vendor_request, validate_catalog
from connector.runner import ActionRunner
from connector.vendor import load_vendor_facts

ACTION_IDS = sorted(load_catalog().actions)
CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


@pytest.fixture(scope="module")
def validation() -> tuple[Any, list[Any]]:
    return validate_catalog()


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_manifest_passes_catalog_validate(
    catalog: Catalog, validation: tuple[Any, list[Any]], action_id: str
) -> None:
    # The same checks as `connector catalog validate`, reported per action.
    _, problems = validation
    action = catalog.get(action_id)
    stem = f"{action.app}/{action.key}.yaml"
    mine = [str(p) for p in problems if p.file.replace("\\", "/").endswith(stem)]
    assert mine == []


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_request_consistent_with_vendor_facts(catalog: Catalog, action_id: str) -> None:
    """Declarative requests against the vendor's facts (the validate check), and every
    request a cassette recorded, handlers' included, against the same facts."""
    action = catalog.get(action_id)
    assert list(check_vendor_request(action)) == []
    cassette = CASSETTES / action.app / f"{action.key}.yaml"
    facts = load_vendor_facts(action.app)
    assert facts is not None, f"no vendor facts for {action.app}"
    prefix = httpx.URL(catalog.apps[action.app].base_url).path  # the facts' paths hang here
    interactions = yaml.safe_load(cassette.read_text())["interactions"]
    assert interactions
    for interaction in interactions:
        url = httpx.URL(interaction["request"]["uri"])
        method = interaction["request"]["method"]
        assert url.raw_path.startswith(prefix.encode() + b"/")
        match, _ = facts.match_path(method, url.raw_path.decode()[len(prefix) :].split("?")[0])
        assert match is not None, f"{method} {url.path} is no {action.app} API operation"
        _, problems = match.operation.check_query(list(url.params.multi_items()))
        assert problems == [], f"{method} {url}: {problems}"
        body = interaction["request"]["body"]
        if body:
            assert match.operation.check_body(json.loads(body)) == []


def schema_problems(schema: dict[str, Any], value: Any) -> list[str]:
    validator = Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}"
        for e in validator.iter_errors(value)
    ]


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_sample_output_matches_output_schema(catalog: Catalog, action_id: str) -> None:
    action = catalog.get(action_id)
    Draft202012Validator.check_schema(action.output_schema)
    assert schema_problems(action.output_schema, action.output_sample) == []


DECLARATIVE = [a for a in ACTION_IDS if load_catalog().get(a).request is not None]


@pytest.mark.parametrize("action_id", DECLARATIVE)
def test_sample_output_matches_the_vendors_response_schema(
    catalog: Catalog, action_id: str
) -> None:
    """A declarative action returns the API's body as is: its sample must be one the vendor's
    own description allows, and it must promise (require) at least what the vendor does."""
    action = catalog.get(action_id)
    assert action.request is not None
    facts = load_vendor_facts(action.app)
    assert facts is not None
    operation = facts.find(action.request.method, action.request.path)
    assert operation is not None
    schemas = [s for code, s in operation.responses.items() if code.startswith("2") and s]
    for schema in schemas:
        assert schema_problems(schema, action.output_sample) == []
        vendor_required = set(schema.get("required", []))
        assert vendor_required <= set(action.output_schema.get("required", []))


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_sample_request_names_declared_inputs(catalog: Catalog, action_id: str) -> None:
    assert catalog.static_input_errors(action_id, catalog.get(action_id).sample_request) == []


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_handlers_resolve(catalog: Catalog, action_id: str) -> None:
    from connector.runner import resolve_handler

    action = catalog.get(action_id)
    for dotted in (action.handler, action.reconcile):
        if dotted:
            assert asyncio.iscoroutinefunction(resolve_handler(dotted))
    assert (action.handler is None) != (action.request is None)


@pytest.mark.vcr
@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_cassette_replay_output_matches_schema(
    catalog: Catalog,
    target: Any,
    vcr: Any,
    record_mode: str,
    replay_inputs: Any,
    action_id: str,
) -> None:
    action = catalog.get(action_id)
    prepared = catalog.prepare_inputs(action_id, replay_inputs(action), {})

    async def go() -> Any:
        async with ActionRunner(
            catalog, base_urls=target.base_urls, credentials=target.credentials, env={}
        ) as runner:
            return await runner.run(action_id, prepared)

    output = asyncio.run(go())
    assert schema_problems(action.output_schema, output) == []
    if record_mode == "none":
        assert vcr.play_count >= 1, "the output did not come from the cassette"
        assert vcr.all_played, "the action made fewer requests than its cassette holds"
