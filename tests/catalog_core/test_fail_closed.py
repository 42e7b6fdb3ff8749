"""Fail closed: a catalog that `connector catalog validate` rejects does not run.

Each broken copy of the real catalog is one that the models accept (it still lists), but a
deeper check refuses: running any action or workflow from it exits 2 with the file and the
field, before any request is sent or any run log written. The CLI tests install the broken
copy in place of the built-in apps' manifests (connector.plugins).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector import plugins
from connector.catalog import load_catalog, read_catalog
from connector.cli import main
from connector.errors import InvalidConfiguration

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"

Edit = Callable[[dict[str, Any]], None]


def _query(key: str, value: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        doc["request"]["query"][key] = value

    return edit


BROKEN = [
    pytest.param(
        "bitly/get_clicks_summary.yaml",
        _query("unitz", "day"),
        "manifests/bitly/get_clicks_summary.yaml: request.query.unitz: not a parameter of",
        id="unknown-query-parameter",
    ),
    pytest.param(
        "shorten_dev/get_link_analytics.yaml",
        _query("period", "<<inputs.perod>>"),
        "manifests/shorten_dev/get_link_analytics.yaml: request.query.period: "
        "'inputs.perod' names an undeclared input (did you mean 'period'?)",
        id="template-naming-no-input",
    ),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("catalog") / "manifests"
    shutil.copytree(MANIFESTS, target)
    return target


def _broken(pristine: Path, tmp_path: Path, file: str, edit: Edit) -> Path:
    root = tmp_path / "manifests"
    shutil.copytree(pristine, root)
    doc = yaml.safe_load((root / file).read_text())
    edit(doc)
    (root / file).write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def _install(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """The built-in apps, with their manifests read from `root` instead."""
    found = plugins.discover()
    apps = {
        key: dataclasses.replace(app, manifests=root / key) if (root / key).is_dir() else app
        for key, app in found.apps.items()
    }
    discovery = plugins.Discovery(apps=apps, problems=list(found.problems))
    monkeypatch.setattr(plugins, "discover", lambda: discovery)


@pytest.mark.parametrize(("file", "edit", "expected"), BROKEN)
def test_the_python_api_refuses_to_load_it_for_running(
    pristine: Path, tmp_path: Path, file: str, edit: Edit, expected: str
) -> None:
    root = _broken(pristine, tmp_path, file, edit)
    with pytest.raises(InvalidConfiguration) as info:
        load_catalog(root)
    assert expected in info.value.message
    assert info.value.exit_code == 2
    # Listing and describing still work: only running is refused.
    assert len(read_catalog(root).actions) == len(read_catalog().actions)


@pytest.mark.parametrize(("file", "edit", "expected"), BROKEN)
def test_no_action_of_it_runs(
    pristine: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    file: str,
    edit: Edit,
    expected: str,
) -> None:
    root = _broken(pristine, tmp_path, file, edit)
    _install(monkeypatch, root)
    # Credentials and an address that is never reached: the load fails before any request.
    monkeypatch.setenv("BITLY_TOKEN", "t0ken-never-sent")
    monkeypatch.setenv("BITLY_API_URL", "http://127.0.0.1:9/v4")
    # An action of the broken file, and one of another file: the whole catalog is refused.
    for action in (f"{Path(file).parent.name}.{Path(file).stem}", "bitly.get_user"):
        code = main(["actions", "run", action, "--input", "bitlink=bit.ly/abc", "--json"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert expected in err, err
    assert main(["catalog", "list"]) == 0


def test_no_workflow_of_it_runs(
    pristine: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = _broken(pristine, tmp_path, "bitly/get_clicks_summary.yaml", _query("unitz", "day"))
    _install(monkeypatch, root)
    monkeypatch.setenv("CONNECTOR_HOME", str(tmp_path / "home"))
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        "name: t\nsteps:\n  - id: me\n    action: bitly.get_user\n", encoding="utf-8"
    )
    code = main(["run", str(workflow), "--json"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "manifests/bitly/get_clicks_summary.yaml: request.query.unitz" in err
    assert not (tmp_path / "home" / "runs.db").exists()


def test_the_real_catalog_loads_for_running() -> None:
    catalog = load_catalog()
    assert set(catalog.actions) == set(read_catalog().actions)


def test_reading_the_catalog_to_list_it_imports_no_validator_template_engine_or_http() -> None:
    # Listing stays cheap: the full checks (and what they import) wait for a run.
    code = (
        "import sys; from connector.catalog import read_catalog; read_catalog(); "
        "print(sorted(m for m in ('jinja2', 'jsonschema', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_catalog_read_to_be_listed_prepares_nothing_for_a_run() -> None:
    listed = read_catalog()
    with pytest.raises(InvalidConfiguration, match="load it with load_catalog"):
        listed.prepare_inputs("bitly.get_user", {}, {})
    with pytest.raises(InvalidConfiguration, match="load it with load_catalog"):
        listed.static_input_errors("bitly.get_user", {})
    assert load_catalog().prepare_inputs("bitly.get_user", {}, {}) == {}
