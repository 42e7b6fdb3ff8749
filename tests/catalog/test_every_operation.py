"""Every operation of the vendor's API is reachable: derived from the vendor facts, not from
the catalog, so an operation no action calls fails here by name.

For each operationId: some action's export names it in `operations`; running that action
from the CLI on a fresh sandbox makes the sandbox count a request for that operation; and the
output validates against the action's declared output schema. Several actions may name one
operation; the one calling fewest operations is run (the catalog-derived suite runs every
action anyway). Search actions share one sandbox; an action that may write gets its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator

from connector.catalog import load_catalog
from connector.catalog.export import export_catalog
from connector.cli import main
from connector.sandbox import embedded
from connector.vendor import load_vendor_facts

from .recording import frozen_sandboxes, replay_inputs

_CATALOG = load_catalog()
_EXPORT = export_catalog(_CATALOG)


def _operations() -> list[tuple[str, str, str]]:
    """(app, operationId, endpoint key the sandbox counts) for every app with API facts."""
    out = []
    for app in sorted(_CATALOG.apps):
        facts = load_vendor_facts(app)
        if facts is None:
            continue
        prefix = urlsplit(_CATALOG.apps[app].base_url).path.rstrip("/")
        for op in facts.operations:
            out.append((app, op.operation_id, f"{op.method} {prefix}{op.path}"))
    return out


OPERATIONS = _operations()


def _naming(app: str, operation_id: str) -> list[str]:
    """Ids of the exported actions of `app` that name `operation_id`, those calling fewest
    operations first (a create that reads back after a lost write names the read too)."""
    naming = [
        action
        for doc in _EXPORT["apps"]
        if doc["key"] == app
        for action in doc["actions"]
        if operation_id in action["operations"]
    ]
    return [a["id"] for a in sorted(naming, key=lambda a: (len(a["operations"]), a["id"]))]


def test_the_facts_hold_every_operation() -> None:
    # Bitly's description declares 62; a facts file that lost some would pass vacuously.
    assert len([op for op in OPERATIONS if op[0] == "bitly"]) == 62


@pytest.fixture(scope="module")
def read_only_sandboxes() -> Iterator[Any]:
    """One frozen pair for every `search` action: reads leave the demo data as it was."""
    with frozen_sandboxes() as boxes:
        yield boxes


@pytest.mark.slow
@pytest.mark.parametrize(("app", "operation_id", "endpoint"), OPERATIONS, ids=lambda v: str(v))
def test_operation_is_reachable_through_an_action(
    app: str,
    operation_id: str,
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    read_only_sandboxes: Any,
) -> None:
    naming = _naming(app, operation_id)
    assert naming, f"no action's export names {operation_id}"
    action = _CATALOG.get(naming[0])
    counted: dict[str, int] = {}

    @contextmanager
    def fresh() -> Iterator[Any]:
        if action.kind == "search":
            yield read_only_sandboxes
        else:
            with frozen_sandboxes() as boxes:
                yield boxes

    @contextmanager
    def counting(**_: Any) -> Iterator[Any]:
        with fresh() as boxes:
            before = dict(boxes.apps[app].state.counts)
            yield boxes
            after = boxes.apps[app].state.counts
            counted.update({k: after[k] - before.get(k, 0) for k in after})

    monkeypatch.setattr(embedded, "embedded_sandboxes", counting)
    inputs = json.dumps(replay_inputs(action))
    code = main(["actions", "run", action.id, "--inputs-json", inputs, "--sandbox", "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    assert counted.get(endpoint, 0) >= 1, f"{action.id} made no {endpoint} request: {counted}"
    problems = [
        e.message for e in Draft202012Validator(action.output_schema).iter_errors(json.loads(out))
    ]
    assert problems == []
