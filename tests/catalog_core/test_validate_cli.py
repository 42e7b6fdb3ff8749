"""`connector catalog validate` on the real catalog and on broken copies of it (via the CLI)."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from connector.cli import main

Edit = Callable[[dict], None]
MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def test_real_catalog_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "validate"]) == 0
    actions = [p for p in MANIFESTS.glob("*/*.yaml") if p.name != "app.yaml"]
    assert f"{len(actions)} actions" in capsys.readouterr().out


def _set(path: list, value: object) -> Edit:
    def edit(doc: dict) -> None:
        node = doc
        for part in path[:-1]:
            node = node[part]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return edit


_DELETE = object()

CASES = [
    ("bitly/get_clicks_summary.yaml", _set(["request", "query", "unitz"], "x"),
     "manifests/bitly/get_clicks_summary.yaml: request.query.unitz: not a parameter of "
     "GET /bitlinks/{bitlink}/clicks/summary (did you mean 'unit'?)"),
    ("bitly/get_clicks_summary.yaml", _set(["request", "query", "units"], _DELETE),
     "request.query: GET /bitlinks/{bitlink}/clicks/summary requires the query parameter 'units'"),
    ("bitly/get_bitlink.yaml", _set(["request", "path"], "/bitlinks/{bitlink}/clickz"),
     "request.path: GET /bitlinks/{bitlink}/clickz is not a Bitly API operation"),
    ("bitly/shorten_link.yaml", _set(["request", "body", "titl"], "x"),
     "request.body.titl: not a property of the POST /shorten body"),
    ("bitly/create_bitlink.yaml", _set(["request", "body", "long_url"], _DELETE),
     "request.body: POST /bitlinks requires the body property 'long_url'"),
    ("bitly/get_user.yaml", _set(["output", "sample"], _DELETE),
     "get_user.yaml: output.sample: required key is missing"),
    ("bitly/get_user.yaml", _set(["output", "sample", "login"], 5),
     "get_user.yaml: output.sample.login: does not match the output schema"),
    ("bitly/get_user.yaml", _set(["output", "schema", "type"], "strin"),
     "get_user.yaml: output.schema.type: 'strin' is not valid under any of the given schemas"),
    ("bitly/get_user.yaml", _set(["descripton"], "x"),
     "get_user.yaml: descripton: unknown key (did you mean 'description'?)"),
    ("shorten_dev/get_link_analytics.yaml",
     _set(["request", "query", "period"], "<<inputs.perod>>"),
     "request.query.period: 'inputs.perod' names an undeclared input (did you mean 'period'?)"),
    ("shorten_dev/get_link.yaml", _set(["request", "path"], "/link/{slug}"),
     "request.path: GET /link/{slug} is not a shorten.dev API operation "
     "(did you mean '/links/{slug}'?)"),
    ("shorten_dev/get_link_analytics.yaml", _set(["request", "query", "window"], "7d"),
     "request.query.window: not a parameter of GET /links/{slug}/analytics"),
    ("shorten_dev/get_link.yaml", _set(["key"], "get_lnk"),
     "get_link.yaml: key: 'get_lnk' does not match the file name 'get_link'"),
    ("shorten_dev/list_links.yaml", _set(["handler"], ".nope:list_links"),
     "list_links.yaml: handler: cannot import 'connector.apps.shorten_dev.nope'"),
    ("shorten_dev/create_link.yaml", _set(["reconcile"], ".links:nope"),
     "create_link.yaml: reconcile: 'connector.apps.shorten_dev.links' has no function 'nope'"),
    ("shorten_dev/list_links.yaml", _set(["inputs", 2, "default"], "name"),
     "list_links.yaml: inputs[2].default: 'name' is not valid"),
    ("shorten_dev/create_link.yaml", _set(["rate_limit", "bucket"], "creations"),
     "rate_limit.bucket: 'creations' is not a bucket of the app's rate_limits "
     "(did you mean 'creation'?)"),
    ("bitly/app.yaml", _set(["rate_limit"], {"concurrency": 1}),
     "manifests/bitly/app.yaml: rate_limit: unknown key (did you mean 'rate_limits'?)"),
    ("bitly/get_link_click_metrics.yaml", _set(["inputs", 1, "options", 1, "value"], "day"),
     "get_link_click_metrics.yaml: inputs[1].options: two options have the same value"),
    ("bitly/app.yaml", _set(["notes", 0, "answer"], ""),
     "manifests/bitly/app.yaml: notes[0].answer: '' should be non-empty"),
    ("bitly/get_bitlink.yaml", _set(["output", "schema", "$ref"], "#/$defs/bitlnk"),
     "get_bitlink.yaml: output.schema: '#/$defs/bitlnk' names no shape of the app"),
    ("bitly/app.yaml", _set(["errors", 0, "error"], "slow_down"),
     "manifests/bitly/app.yaml: errors[0].error: 'slow_down' is not one of"),
]  # fmt: skip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("catalog") / "manifests"
    shutil.copytree(MANIFESTS, target)
    return target


@pytest.mark.parametrize(("file", "edit", "expected"), CASES, ids=[c[2][:60] for c in CASES])
def test_anti_example_fails_naming_file_and_field(
    pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    file: str, edit: Edit, expected: str,
) -> None:  # fmt: skip
    root = tmp_path / "manifests"
    shutil.copytree(pristine, root)
    doc = yaml.safe_load((root / file).read_text())
    edit(doc)
    (root / file).write_text(yaml.safe_dump(doc, sort_keys=False))
    assert main(["catalog", "validate", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert expected in err, err


def test_broken_yaml_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, root)
    (root / "bitly" / "get_user.yaml").write_text("key: [unclosed\n")
    assert main(["catalog", "validate", "--root", str(root)]) == 1
    assert "manifests/bitly/get_user.yaml: line" in capsys.readouterr().err


ANTI_EXAMPLES = sorted(
    (Path(__file__).resolve().parents[2] / "connector/catalog/schema/anti_examples").glob("*.yaml")
)


@pytest.mark.parametrize("anti", ANTI_EXAMPLES, ids=lambda p: p.stem)
def test_cli_fails_on_each_shipped_anti_example_naming_file_and_field(
    pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], anti: Path
) -> None:
    """Acceptance 2: each anti-example, dropped into a real catalog, fails `catalog validate`."""
    doc = yaml.safe_load(anti.read_text())
    root = tmp_path / "manifests"
    shutil.copytree(pristine, root)
    if doc["definition"] == "app":
        target = root / "antiapp" / "app.yaml"
        target.parent.mkdir()
    else:
        key = doc["manifest"].get("key")
        stem = key if isinstance(key, str) and key.isidentifier() else anti.stem
        target = root / "bitly" / f"{stem}.yaml"
    # Written as YAML text, so YAML's own surprises (a date read from 2026-04-11) stay in.
    text = anti.read_text().split("\nmanifest:\n", 1)[1]
    target.write_text(textwrap.dedent(text))
    assert main(["catalog", "validate", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    shown = f"manifests/{target.parent.name}/{target.name}: {doc['expected']}"
    assert shown in err, err
