"""Each exported action names the vendor API operations it calls, and the names are true.

A declarative request's operation comes from the API facts (method + path); a handler
declares its operations in its manifest, and every request its cassette recorded must be one
of them. `catalog validate` refuses an operation the facts don't know.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from connector.catalog import load_catalog
from connector.catalog.operations import action_operations
from connector.cli import main
from connector.vendor import load_vendor_facts

CATALOG = load_catalog()
REPO = Path(__file__).resolve().parents[2]
CASSETTES = REPO / "cassettes"
WITH_FACTS = sorted(a for a in CATALOG.actions if load_vendor_facts(CATALOG.get(a).app))
HANDLERS = sorted(a for a in WITH_FACTS if CATALOG.get(a).request is None)


@pytest.mark.parametrize("action_id", WITH_FACTS)
def test_operations_are_operation_ids_of_the_facts(action_id: str) -> None:
    action = CATALOG.get(action_id)
    facts = load_vendor_facts(action.app)
    assert facts is not None
    names = action_operations(action)
    assert names, f"{action_id} names no operation"
    for name in names:
        operation = facts.by_id(name)
        if action.request is not None:
            assert (operation.method, operation.path) == (
                action.request.method,
                action.request.path,
            )


@pytest.mark.parametrize("action_id", HANDLERS)
def test_a_handler_calls_only_the_operations_it_declares(action_id: str) -> None:
    action = CATALOG.get(action_id)
    facts = load_vendor_facts(action.app)
    assert facts is not None
    cassette = CASSETTES / action.app / f"{action.key}.yaml"
    assert cassette.is_file(), f"{cassette} is missing"
    prefix = urlsplit(CATALOG.apps[action.app].sandbox.base_url).path
    called = set()
    for interaction in yaml.safe_load(cassette.read_text())["interactions"]:
        request = interaction["request"]
        path = urlsplit(request["uri"]).path
        assert path.startswith(prefix), path
        match, _ = facts.match_path(request["method"], path[len(prefix) :])
        assert match is not None, f"{request['method']} {path} is no operation"
        called.add(match.operation.operation_id)
    assert called and called <= set(action.operations), (called, action.operations)


def _validate_with(tmp_path: Path, file: str, edit: dict[str, object]) -> str:
    root = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", root)
    doc = yaml.safe_load((root / file).read_text())
    for key, value in edit.items():
        if value is None:
            del doc[key]
        else:
            doc[key] = value
    (root / file).write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(root)


@pytest.mark.parametrize(
    ("file", "edit", "expected"),
    [
        (
            "bitly/list_group_bitlinks.yaml",
            {"operations": ["getBitlinksByGroups"]},
            "list_group_bitlinks.yaml: operations[0]: 'getBitlinksByGroups' is not an "
            "operationId of the bitly API",
        ),
        (
            "shorten_dev/list_links.yaml",
            {"operations": None},
            "list_links.yaml: operations: a handler must declare the API operations",
        ),
        (
            "bitly/get_user.yaml",
            {"operations": ["getUser"]},
            "get_user.yaml: operations: only for a handler",
        ),
    ],
)
def test_validate_refuses_operations_that_cannot_be_true(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file: str,
    edit: dict[str, object],
    expected: str,
) -> None:
    root = _validate_with(tmp_path, file, edit)
    assert main(["catalog", "validate", "--root", root]) == 1
    err = capsys.readouterr().err
    assert expected in err, err
