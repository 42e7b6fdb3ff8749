"""The export document: a builder can draw every action's form from it alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from connector.catalog import load_catalog
from connector.cli import main


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("export") / "catalog.json"
    assert main(["catalog", "export", "--out", str(out)]) == 0
    data: dict = json.loads(Path(out).read_text())
    return data


def test_every_form_is_drawable(document: dict) -> None:
    actions = [a for app in document["apps"] for a in app["actions"]]
    assert sorted(a["id"] for a in actions) == sorted(load_catalog().actions)
    for app in document["apps"]:
        assert app["name"] and app["credential"]["fields"]
    for action in actions:
        form = action["inputs"]
        Draft202012Validator.check_schema(form)
        assert form["x-order"] == list(form["properties"])
        assert set(form["required"]) <= set(form["properties"])
        for key, field in form["properties"].items():
            assert field["type"] and field["title"], (action["id"], key)
            assert field["x-template"] is True
            if "enum" in field:
                assert len(field["x-enumLabels"]) == len(field["enum"])
                assert [o["const"] for o in field["oneOf"]] == field["enum"]
        assert action["output"]["schema"] and action["output"]["sample"] is not None
        assert isinstance(action["sample_request"], dict)


def test_metrics_form(document: dict) -> None:
    bitly = next(app for app in document["apps"] if app["key"] == "bitly")
    metrics = next(a for a in bitly["actions"] if a["id"] == "bitly.get_link_click_metrics")
    unit = metrics["inputs"]["properties"]["unit"]
    assert unit["enum"] == ["minute", "hour", "day", "week", "month"]
    assert unit["x-enumLabels"][2] == "Day" and unit["default"] == "day"
    assert metrics["inputs"]["required"] == ["bitlink"]
    assert metrics["inputs"]["properties"]["units"]["minimum"] == -1


def test_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--app", "shorten_dev", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} >= {"shorten_dev.create_link", "shorten_dev.list_links"}
    assert main(["catalog", "show", "bitly.get_bitlink"]) == 0
    assert "GET /bitlinks/{bitlink}" in capsys.readouterr().out
    assert main(["catalog", "show", "bitly.get_bitlnk"]) == 2
