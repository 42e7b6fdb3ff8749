"""An app's `credential.test` (how a saved connection is proven) names one of its own
actions, one that only reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from connector.catalog.validate import validate_catalog

ROOT = Path(__file__).resolve().parents[2]


def _app(tmp_path: Path, test: dict[str, object]) -> Path:
    root = tmp_path / "manifests"
    shutil.copytree(ROOT / "manifests" / "shorten_dev", root / "shorten_dev")
    app_file = root / "shorten_dev" / "app.yaml"
    doc = yaml.safe_load(app_file.read_text())
    doc["credential"]["test"] = test
    app_file.write_text(yaml.safe_dump(doc))
    return root


def test_the_shipped_apps_declare_a_read_only_test() -> None:
    result, errors = validate_catalog()
    assert not errors
    for key in ("bitly", "shorten_dev"):
        test = result.apps[key].credential.test
        assert test is not None and result.actions[f"{key}.{test.action}"].idempotent


def test_a_test_naming_no_action_or_a_write_is_refused(tmp_path: Path) -> None:
    _, errors = validate_catalog(_app(tmp_path, {"action": "list_linkz"}))
    assert [(e.field, e.message) for e in errors] == [
        ("credential.test.action", "no action 'list_linkz' in shorten_dev")
    ]
    _, errors = validate_catalog(_app(tmp_path / "w", {"action": "create_link"}))
    assert [e.field for e in errors] == ["credential.test.action"]
    assert "writes" in errors[0].message
