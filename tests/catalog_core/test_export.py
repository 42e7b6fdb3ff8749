"""The export document: the contract builders rely on, checked for every action of the catalog.

`inputs` draws, `mapped_inputs` says what a builder may save (literal or template), and the
catalog's own sample request of every action is valid against it in both JSON Schema dialects
the export promises. (tests/browser renders the same document with react-jsonschema-form.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from jsonschema.validators import validator_for

from connector.catalog import load_catalog
from connector.catalog.export import export_catalog
from connector.cli import main

CATALOG = load_catalog()
ACTION_IDS = sorted(CATALOG.actions)
# The real catalog, and a made-up one with an input of every type the catalog may grow into.
CATALOGS = {
    "catalog": CATALOG,
    "every_type": load_catalog(Path(__file__).resolve().parents[1] / "every_type_catalog"),
}
CASES = [(name, a) for name, catalog in CATALOGS.items() for a in sorted(catalog.actions)]
DIALECTS = (Draft7Validator, Draft202012Validator)
# Keywords both dialects define (draft-07's plus 2020-12's), i.e. what Ajv strict knows.
_STANDARD = frozenset(
    set(Draft7Validator.META_SCHEMA["properties"]) | set(Draft202012Validator.VALIDATORS)
) | {"title", "description", "default", "examples", "readOnly", "writeOnly", "$comment"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("export") / "catalog.json"
    assert main(["catalog", "export", "--out", str(out)]) == 0
    data: dict[str, Any] = json.loads(Path(out).read_text())
    return data


@pytest.fixture(scope="module")
def actions(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for app in document["apps"] for a in app["actions"]}


@pytest.fixture(scope="module")
def exported() -> dict[tuple[str, str], dict[str, Any]]:
    """(catalog name, action id) -> the action's exported document, through JSON."""
    return {
        (name, a["id"]): a
        for name, catalog in CATALOGS.items()
        for app in json.loads(json.dumps(export_catalog(catalog)))["apps"]
        for a in app["actions"]
    }


def _validators(schema: dict[str, Any]) -> Iterator[Any]:
    for dialect in DIALECTS:
        dialect.check_schema(schema)
        yield dialect(schema, format_checker=FormatChecker())


def _problems(schema: dict[str, Any], value: Any) -> list[str]:
    return [
        f"{e.json_path}: {e.message}" for v in _validators(schema) for e in v.iter_errors(value)
    ]


def _keywords(schema: Any, at: str = "") -> Iterator[tuple[str, str]]:
    """(where, keyword) for every keyword of every subschema."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        yield at, key
        if key in ("properties", "$defs", "definitions"):
            for name, sub in value.items():
                yield from _keywords(sub, f"{at}/{key}/{name}")
        elif key in ("anyOf", "oneOf", "allOf") or (key == "items" and isinstance(value, list)):
            for i, sub in enumerate(value):
                yield from _keywords(sub, f"{at}/{key}/{i}")
        elif key in ("items", "additionalProperties", "not", "contains"):
            yield from _keywords(value, f"{at}/{key}")


def test_top_level_says_how_to_read_the_document(document: dict[str, Any]) -> None:
    assert document["version"] == 2
    vocabulary = document["vocabulary"]
    assert all(k.startswith(vocabulary["prefix"]) for k in vocabulary["keywords"])
    template = document["templates"]["schema"]
    for dialect in DIALECTS:
        dialect.check_schema(template)
    assert set(document["schemas"]["formats"]) == {"uri", "date-time"}
    assert {app["key"] for app in document["apps"]} == set(CATALOG.apps)
    for app in document["apps"]:
        assert app["name"] and app["credential"]["fields"]


def test_every_catalog_action_is_exported_once(actions: dict[str, dict[str, Any]]) -> None:
    assert sorted(actions) == ACTION_IDS


@pytest.mark.parametrize(("name", "action_id"), CASES)
def test_contract_fields(
    name: str, action_id: str, exported: dict[tuple[str, str], dict[str, Any]]
) -> None:
    action = exported[name, action_id]
    spec = CATALOGS[name].get(action_id)
    assert (action["id"], action["name"]) == (spec.id, spec.name)
    assert action["sample_request"] == spec.sample_request
    form, mapped = action["inputs"], action["mapped_inputs"]
    assert list(form["properties"]) == list(mapped["properties"]) == spec.input_keys
    assert form["required"] == mapped["required"] == [i.key for i in spec.inputs if i.required]
    assert action["ui_schema"]["ui:order"] == spec.input_keys
    assert form["additionalProperties"] is mapped["additionalProperties"] is False
    output = action["output"]["schema"]
    assert "$schema" not in output  # valid under both dialects, as the top level says
    for validator in _validators(output):
        assert list(validator.iter_errors(action["output"]["sample"])) == []


@pytest.mark.parametrize(("name", "action_id"), CASES)
def test_only_standard_keywords_and_the_declared_vocabulary(
    name: str,
    action_id: str,
    exported: dict[tuple[str, str], dict[str, Any]],
    document: dict[str, Any],
) -> None:
    known = _STANDARD | set(document["vocabulary"]["keywords"])
    action = exported[name, action_id]
    for part in ("inputs", "mapped_inputs"):
        unknown = {(w, k) for w, k in _keywords(action[part]) if k not in known}
        assert not unknown, (part, unknown)
        assert "$schema" not in action[part]  # valid under both dialects; a builder picks one
        for dialect in DIALECTS:
            dialect.check_schema(action[part])


@pytest.mark.parametrize(("name", "action_id"), CASES)
def test_sample_request_is_what_a_builder_may_save(
    name: str, action_id: str, exported: dict[tuple[str, str], dict[str, Any]]
) -> None:
    action = exported[name, action_id]
    assert _problems(action["mapped_inputs"], action["sample_request"]) == []


@pytest.mark.parametrize(("name", "action_id"), CASES)
def test_every_field_takes_a_template_and_refuses_other_shapes(
    name: str, action_id: str, exported: dict[tuple[str, str], dict[str, Any]]
) -> None:
    fields = exported[name, action_id]["inputs"]["properties"]
    mapped_fields = exported[name, action_id]["mapped_inputs"]["properties"]
    for spec in CATALOGS[name].get(action_id).inputs:
        mapped = mapped_fields[spec.key]
        for template in ("{{trigger.x}}", "<<steps.a.output.b>>", "pre <<item.c>> post"):
            assert _problems(mapped, template) == [], (spec.key, template)
        for value in ("no template", "<<unclosed", {"an": "object"}):
            literal_ok = not _problems(fields[spec.key], value)
            plain_list = spec.type == "multi-select" or (
                spec.type == "array" and (spec.items or {}).get("type") != "object"
            )
            if literal_ok or (plain_list and isinstance(value, str)):
                continue  # the literal form takes it (a string field, a comma list)
            assert _problems(mapped, value), (spec.key, value)


@pytest.mark.parametrize(("name", "action_id"), CASES)
def test_defaults_and_examples_are_literals_of_the_form(
    name: str, action_id: str, exported: dict[tuple[str, str], dict[str, Any]]
) -> None:
    for key, field in exported[name, action_id]["inputs"]["properties"].items():
        for value in [
            *field.get("examples", []),
            *([field["default"]] if "default" in field else []),
        ]:
            assert _problems(field, value) == [], (key, value)


def test_options_are_labelled_without_a_bare_enum(actions: dict[str, dict[str, Any]]) -> None:
    metrics = actions["bitly.get_link_click_metrics"]
    unit = metrics["inputs"]["properties"]["unit"]
    assert "enum" not in unit
    assert unit["oneOf"][2] == {"const": "day", "title": "Day"} and unit["default"] == "day"
    assert metrics["inputs"]["required"] == ["bitlink"]
    assert metrics["inputs"]["properties"]["units"]["minimum"] == -1
    for action in actions.values():
        assert not any(k == "enum" for _, k in _keywords(action["inputs"])), action["id"]


def test_lists_accept_the_comma_separated_form(actions: dict[str, dict[str, Any]]) -> None:
    create = actions["bitly.create_bitlink"]["mapped_inputs"]
    assert _problems(create, {"long_url": "https://a.example", "tags": "spring,newsletter"}) == []
    assert _problems(create, {"long_url": "https://a.example", "tags": ["a", "<<item.t>>"]}) == []
    assert _problems(create, {"long_url": "https://a.example", "tags": [1]})
    bulk = actions["shorten_dev.bulk_create_links"]["mapped_inputs"]
    assert _problems(bulk, {"links": "a,b"})  # a list of objects has no comma form


def test_template_pattern_means_what_the_runtime_renders() -> None:
    from connector.catalog.export_forms import TEMPLATE
    from connector.catalog.templates import has_template

    validator = validator_for(TEMPLATE)(TEMPLATE)
    texts = [
        "<<a>>", "{{ a.b }}", "x <<a>> y", "<{ <<a>>", "<< a\n>>", "{{a}", "<<a", "a>>b<<",
        "plain", "{ {a} }", "<<a}}", "",
    ]  # fmt: skip
    for text in texts:
        assert validator.is_valid(text) == has_template(text), text


def test_show_prints_one_action_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "show", "shorten_dev.create_link", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["operations"] == ["createLink", "getLink"]
    assert "mapped_inputs" in shown and "ui_schema" in shown


def test_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--app", "shorten_dev", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} >= {"shorten_dev.create_link", "shorten_dev.list_links"}
    assert main(["catalog", "show", "bitly.get_bitlink"]) == 0
    assert "GET /bitlinks/{bitlink}" in capsys.readouterr().out
    assert main(["catalog", "show", "bitly.get_bitlnk"]) == 2


def test_export_to_a_path_that_cannot_be_written_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no such folder" / "catalog.json"
    assert main(["catalog", "export", "--out", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {missing}: cannot write the export: No such file or directory\n"
    assert main(["catalog", "export", "--out", str(tmp_path)]) == 2  # a folder
    assert "cannot write the export" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_export_replaces_a_previous_file_whole(tmp_path: Path) -> None:
    out = tmp_path / "catalog.json"
    out.write_text("old")
    assert main(["catalog", "export", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["version"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.json"]
