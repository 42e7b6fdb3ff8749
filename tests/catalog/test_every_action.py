"""The one parametrised test over every action in the catalog: a new manifest is picked up
with no edit to any test, and nothing here knows how many actions there are.

For each action: the manifest passes the catalog's own checks; its sample output is valid
against its output schema (and, when the API's body is returned as is, against the vendor's);
its request, and every request its cassette recorded, agree with the vendor facts; its sample
request names declared inputs and coerces; its handlers resolve; a replay of its cassette
returns output of the declared shape; it runs from the CLI on the sandbox and its output
validates; the README's catalog table lists it. And for the catalog as a whole: no README row
and no cassette belongs to an action that does not exist.

A missing cassette fails saying how to record it (tests/catalog/recording.py, README).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator

from connector.catalog import ActionSpec, Catalog, load_catalog
from connector.catalog.models import MISSING
from connector.catalog.validate import check_vendor_request, validate_catalog
from connector.cli import main
from connector.runner import resolve_handler
from connector.sandbox import embedded
from connector.vendor import load_vendor_facts

from .recording import (
    REPO,
    cassette_path,
    frozen_sandboxes,
    missing_message,
    orphan_cassettes,
    replay,
    replay_inputs,
)

_CATALOG = load_catalog()
ACTION_IDS = sorted(_CATALOG.actions)
DECLARATIVE = [a for a in ACTION_IDS if _CATALOG.get(a).request is not None]


def schema_problems(schema: dict[str, Any], value: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}"
        for e in Draft202012Validator(schema).iter_errors(value)
    ]


def recorded_interactions(action_id: str) -> list[dict[str, Any]]:
    path = cassette_path(action_id)
    if not path.is_file():
        pytest.fail(missing_message(action_id))
    interactions: list[dict[str, Any]] = yaml.safe_load(path.read_text())["interactions"]
    return interactions


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
    assert [str(p) for p in problems if p.file.replace("\\", "/").endswith(stem)] == []


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_sample_output_matches_output_schema(catalog: Catalog, action_id: str) -> None:
    action = catalog.get(action_id)
    Draft202012Validator.check_schema(action.output_schema)
    assert schema_problems(action.output_schema, action.output_sample) == []


@pytest.mark.parametrize("action_id", DECLARATIVE)
def test_sample_output_matches_the_vendors_response_schema(
    catalog: Catalog, action_id: str
) -> None:
    """A declarative action returns the API's body as is: its sample must be one the vendor's
    own description allows, and it must promise (require) at least what the vendor does."""
    action = catalog.get(action_id)
    assert action.request is not None
    facts = load_vendor_facts(action.app)
    assert facts is not None, f"no vendor facts for {action.app}"
    operation = facts.find(action.request.method, action.request.path)
    assert operation is not None, f"{action.request.method} {action.request.path}"
    for code, schema in operation.responses.items():
        if code.startswith("2") and schema:
            assert schema_problems(schema, action.output_sample) == []
            assert set(schema.get("required", [])) <= set(action.output_schema.get("required", []))


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_request_consistent_with_vendor_facts(catalog: Catalog, action_id: str) -> None:
    """Declarative requests against the vendor's facts (the validate check), and every
    request the cassette recorded, handlers' included, against the same facts."""
    action = catalog.get(action_id)
    assert list(check_vendor_request(action)) == []
    facts = load_vendor_facts(action.app)
    assert facts is not None, f"no vendor facts for {action.app}"
    prefix = urlsplit(catalog.apps[action.app].base_url).path.rstrip("/")
    interactions = recorded_interactions(action_id)
    assert interactions, f"{cassette_path(action_id)} holds no request"
    for interaction in interactions:
        url = httpx.URL(interaction["request"]["uri"])
        method = interaction["request"]["method"]
        assert url.raw_path.startswith(prefix.encode() + b"/"), url
        match, _ = facts.match_path(method, url.raw_path.decode()[len(prefix) :].split("?")[0])
        assert match is not None, f"{method} {url.path} is no {action.app} API operation"
        _, problems = match.operation.check_query(list(url.params.multi_items()))
        assert problems == [], f"{method} {url}: {problems}"
        body = interaction["request"]["body"]
        if body:
            assert match.operation.check_body(json.loads(body)) == []


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_sample_request_names_declared_inputs(catalog: Catalog, action_id: str) -> None:
    assert catalog.static_input_errors(action_id, catalog.get(action_id).sample_request) == []


# A sample_request value that is one path, `{{ a.b.c }}` or `<<a.b.c>>`
_ONE_PATH = re.compile(r"^\s*(?:\{\{|<<)\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(?:\}\}|>>)\s*$")


def sample_context(action: ActionSpec) -> dict[str, Any]:
    """A context in which every template of the sample request resolves to the example (or
    replay value) of the input it fills: what a builder's upstream step would supply."""
    fallback = replay_inputs(action)
    context: dict[str, Any] = {}
    for key, value in action.sample_request.items():
        if not isinstance(value, str) or ("{{" not in value and "<<" not in value):
            continue
        match = _ONE_PATH.match(value)
        if match is None:
            raise ValueError(
                f"{action.id}: sample_request.{key} is not one path ({value!r}); "
                "the suite supplies values for `{{ a.b }}` / `<<a.b>>` only"
            )
        spec = action.input(key)
        if spec is not None and spec.example is not None and spec.example is not MISSING:
            supplied = spec.example
        elif key in fallback:
            supplied = fallback[key]
        else:
            raise ValueError(f"{action.id}: input {key!r} has no example to fill the template")
        *parents, leaf = match.group(1).split(".")
        node = context
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = supplied
    return context


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_sample_request_coerces(catalog: Catalog, action_id: str) -> None:
    """With its templates filled by the inputs' examples (what an upstream step supplies), the
    sample request renders, coerces to the declared types and validates."""
    action = catalog.get(action_id)
    prepared = catalog.prepare_inputs(action_id, action.sample_request, sample_context(action))
    required = {spec.key for spec in action.inputs if spec.required}
    assert required <= set(prepared)
    assert set(prepared) <= {spec.key for spec in action.inputs}


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_handlers_resolve(catalog: Catalog, action_id: str) -> None:
    action = catalog.get(action_id)
    for dotted in (action.handler, action.reconcile):
        if dotted:
            assert asyncio.iscoroutinefunction(resolve_handler(dotted))
    assert (action.handler is None) != (action.request is None)


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_cassette_replay_output_matches_schema(catalog: Catalog, action_id: str) -> None:
    if not cassette_path(action_id).is_file():
        pytest.fail(missing_message(action_id))
    played = replay(catalog, action_id)
    assert schema_problems(catalog.get(action_id).output_schema, played.output) == []
    assert played.play_count >= 1, "the output did not come from the cassette"
    assert played.all_played, "the action made fewer requests than its cassette holds"


@pytest.fixture(scope="module")
def read_only_sandboxes() -> Iterator[Any]:
    """One frozen set for every `search` action: reads leave the demo data as it was."""
    with frozen_sandboxes() as boxes:
        yield boxes


@pytest.mark.slow
@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_action_runs_from_the_cli_on_the_sandbox(
    action_id: str,
    catalog: Catalog,
    read_only_sandboxes: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """`connector actions run ID --inputs-json ... --sandbox --json` (a trigger: `connector
    triggers poll ID --input ...`; a webhook trigger: `triggers parse`), as a user runs it: exit 0,
    one line of JSON and nothing on stderr, valid against the declared output schema. The
    sandbox is started frozen; an action that may write gets a fresh set of its own."""
    action = catalog.get(action_id)

    @contextmanager
    def sandboxes(**_: Any) -> Iterator[Any]:
        if action.kind == "search":
            yield read_only_sandboxes
        else:
            with frozen_sandboxes() as boxes:
                yield boxes

    monkeypatch.setattr(embedded, "embedded_sandboxes", sandboxes)
    inputs = replay_inputs(action)
    if action.trigger is not None and action.trigger.type == "webhook":
        # its sample parsed as a delivery, as the service's hook URL parses each
        payload = tmp_path / "delivery.json"
        payload.write_text(json.dumps(action.output_sample))
        command = ["triggers", "parse", action_id, "--payload", str(payload)]  # no request
    elif action.kind == "trigger":  # a first poll, as `connector triggers poll` runs it
        pairs = [arg for k, v in inputs.items() for arg in ("--input", f"{k}={v}")]
        command = ["triggers", "poll", action_id, *pairs]
    else:
        command = ["actions", "run", action_id, "--inputs-json", json.dumps(inputs)]
    target = [] if command[:2] == ["triggers", "parse"] else ["--sandbox"]
    code = main([*command, *target, "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    assert out.count("\n") == 1
    assert schema_problems(action.output_schema, json.loads(out)) == []


README = REPO / "README.md"
_ROW = re.compile(r"^\|\s*`(?P<id>[^`]+)`\s*\|(?P<cells>.*)\|\s*$")


def readme_catalog_rows() -> dict[str, list[str]]:
    """The README's catalog table: action id -> its other cells."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## The catalog\n", 1)
    assert len(section) == 2, "README.md has no '## The catalog' section"
    rows: dict[str, list[str]] = {}
    for line in section[1].split("\n## ", 1)[0].splitlines():
        match = _ROW.match(line)
        if match:
            assert match["id"] not in rows, f"README lists {match['id']} twice"
            rows[match["id"]] = [cell.strip() for cell in match["cells"].split("|")]
    return rows


@pytest.mark.parametrize("action_id", ACTION_IDS)
def test_readme_catalog_table_lists_the_action(catalog: Catalog, action_id: str) -> None:
    action = catalog.get(action_id)
    rows = readme_catalog_rows()
    assert action_id in rows, (
        f"README.md's catalog table has no row for {action_id}: add "
        f"| `{action_id}` | {action.name} | {action.kind} | (what it does) |"
    )
    assert len(rows[action_id]) == 3, f"README.md: | `{action_id}` | name | kind | what it does |"
    name, kind, what = rows[action_id]
    assert (name, kind) == (action.name, action.kind)
    assert what, f"README.md: say what {action_id} does"


def test_readme_catalog_table_has_no_extra_rows(catalog: Catalog) -> None:
    assert sorted(set(readme_catalog_rows()) - set(catalog.actions)) == []


def test_every_cassette_belongs_to_an_action(catalog: Catalog) -> None:
    assert orphan_cassettes(catalog) == []
