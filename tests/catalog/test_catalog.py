"""The one parametrised test over every action in the catalog.

For each manifest: it loads and passes the catalog's own checks, its sample output is valid
against its output schema, its sample request names only declared inputs, its request agrees
with the vendor's API facts, and a cassette replay (recorded against the sandbox; see
conftest.py for how to re-record) returns output valid against the same schema.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector.catalog import Catalog, load_catalog
from connector.runner import ActionRunner

ACTION_IDS = sorted(load_catalog().actions)


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
