"""Apps as plugins (connector.plugins): discovery through the `connector.apps` entry points,
the third-party app in tests/plugin_app loaded in-process beside the built-in ones,
CONNECTOR_MANIFESTS adding apps, relative handler names, and no app named in the core.

The same third-party app installed from its wheel into a fresh venv: tests/test_packaging.py.
"""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector import plugins
from connector.catalog import load_catalog
from connector.catalog.validate import validate_catalog
from connector.cli import main
from connector.plugins import ENTRY_POINT_GROUP, MANIFESTS_ENV, AppPlugin, discover_from, qualify
from connector.vendor import load_vendor_facts

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_APP = Path(__file__).resolve().parent / "plugin_app"
GREETER = EntryPoint("greeter", "connector_greeter:APP", ENTRY_POINT_GROUP)


def _reset_caches() -> None:
    plugins.discover.cache_clear()
    load_vendor_facts.cache_clear()


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    """The installed entry points, plus whatever the test appends; caches reset around it."""
    entries = list(plugins._entry_points())
    monkeypatch.setattr(plugins, "_entry_points", lambda: entries)
    monkeypatch.syspath_prepend(str(PLUGIN_APP))
    _reset_caches()
    yield entries
    _reset_caches()


@pytest.fixture
def greeter(entry_points: list[EntryPoint]) -> None:
    entry_points.append(GREETER)


def test_built_in_apps_come_from_entry_points() -> None:
    found = plugins.discover()
    assert found.problems == []
    catalog = load_catalog()
    assert set(found.apps) == set(catalog.apps)
    for key, app in found.apps.items():
        assert app.key == key and app.handlers == f"connector.apps.{key}"
        assert (app.manifests / "app.yaml").is_file()
        assert app.vendor_facts is not None and app.vendor_facts.is_file()


def test_relative_handler_names_resolve_against_the_app_package() -> None:
    catalog = load_catalog()
    handlers = [a for a in catalog.actions.values() if a.handler]
    assert handlers, "the built-in catalog has handler actions"
    for action in handlers:
        source = yaml.safe_load(action.source.read_text()) if action.source else {}
        assert source["handler"].startswith("."), "built-in manifests use relative names"
        assert action.handler == f"connector.apps.{action.app}{source['handler']}"


def test_manifests_with_relative_names_pass_the_shipped_schema() -> None:
    """Editors and builders check the files as written (`.metrics:f`, `learn: .limits`)
    against the shipped JSON Schema, before the loader makes the names whole."""
    from jsonschema import Draft202012Validator

    from connector.catalog.schema_gen import MANIFEST_SCHEMA

    validator = Draft202012Validator(json.loads(MANIFEST_SCHEMA.read_text()))
    files = sorted((ROOT / "manifests").glob("*/*.yaml"))
    assert files
    for path in files:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], f"{path.relative_to(ROOT)}: {errors}"


def test_qualify() -> None:
    assert qualify(".links:create", "pkg.app") == "pkg.app.links:create"
    assert qualify("other.mod:f", "pkg.app") == "other.mod:f"
    assert qualify("other.mod:f", None) == "other.mod:f"
    with pytest.raises(ValueError, match="relative to the app's handler package"):
        qualify(".links:create", None)


def test_third_party_app_loads_beside_the_built_in_ones(greeter: None) -> None:
    catalog = load_catalog()
    assert {"bitly", "shorten_dev", "greeter"} <= set(catalog.apps)
    assert catalog.get("greeter.say_hello").request is not None
    _, errors = validate_catalog()
    assert errors == []


def test_third_party_app_in_the_cli(greeter: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--json"]) == 0
    ids = {row["id"] for row in json.loads(capsys.readouterr().out)}
    assert "greeter.say_hello" in ids and "bitly.get_user" in ids

    argv = ["actions", "run", "greeter.say_hello", "--sandbox", "--json"]
    assert main([*argv, "--input", "name=Ada", "--input", "language=fr"]) == 0
    assert json.loads(capsys.readouterr().out) == {"greeting": "Bonjour, Ada!", "language": "fr"}


def test_vendor_facts_of_a_third_party_app_are_checked(
    greeter: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "manifests"
    shutil.copytree(PLUGIN_APP / "connector_greeter" / "manifests", root / "greeter")
    doc = yaml.safe_load((root / "greeter" / "say_hello.yaml").read_text())
    doc["request"]["query"]["lang"] = doc["request"]["query"].pop("language")
    (root / "greeter" / "say_hello.yaml").write_text(yaml.safe_dump(doc))
    _, errors = validate_catalog(root)
    assert [str(e) for e in errors] == [
        "manifests/greeter/say_hello.yaml: request.query.lang: not a parameter of "
        "GET /greetings/{name} (did you mean 'language'?)"
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (EntryPoint("greeter", "no_such_module:APP", ENTRY_POINT_GROUP), "cannot load"),
        (EntryPoint("greeter", "connector_greeter:nope", ENTRY_POINT_GROUP), "cannot load"),
        (EntryPoint("greeter", "connector_greeter.sandbox:SANDBOX", ENTRY_POINT_GROUP),
         "points at a SandboxPlugin, not a connector.plugins.AppPlugin"),
        (EntryPoint("hello", "connector_greeter:APP", ENTRY_POINT_GROUP),
         "registers app 'greeter' under another name"),
        (EntryPoint("bitly", "connector_greeter:APP", ENTRY_POINT_GROUP),
         "registers app 'greeter' under another name"),
    ],
)  # fmt: skip
def test_a_broken_entry_point_fails_the_catalog_naming_it(
    entry_points: list[EntryPoint],
    capsys: pytest.CaptureFixture[str],
    entry: EntryPoint,
    message: str,
) -> None:
    entry_points.append(entry)
    assert main(["catalog", "list"]) == 2
    err = capsys.readouterr().err
    assert f"entry point '{entry.name} = {entry.value}'" in err and message in err
    assert "Traceback" not in err


def test_a_plugin_that_fails_on_import_is_one_line(
    entry_points: list[EntryPoint],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "crashing_app.py").write_text('raise RuntimeError("first line\\nsecond line")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    entry_points.append(EntryPoint("crashing", "crashing_app:APP", ENTRY_POINT_GROUP))
    assert main(["catalog", "list"]) == 2
    err = capsys.readouterr().err
    assert "cannot load: RuntimeError: first line second line" in err


def test_an_app_registered_twice_is_named(entry_points: list[EntryPoint]) -> None:
    twice = [GREETER, EntryPoint("greeter", "connector_greeter:APP", ENTRY_POINT_GROUP)]
    found = discover_from(twice)
    assert list(found.apps) == ["greeter"]
    assert len(found.problems) == 1
    assert "app 'greeter' is already registered by entry point" in found.problems[0][1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "Bad-Key"}, "app key 'Bad-Key'"),
        ({"handlers": "not a package"}, "handlers 'not a package'"),
        ({"sandbox": "module_without_attribute"}, "sandbox 'module_without_attribute'"),
    ],
)
def test_app_plugin_refuses_bad_values(kwargs: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"key": "fine", "manifests": Path("m")} | kwargs
    with pytest.raises(ValueError, match=message):
        AppPlugin(**values)


def _extra_apps(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "more"
    for name in names:
        shutil.copytree(PLUGIN_APP / "connector_greeter" / "manifests", folder / name)
    return folder


def test_connector_manifests_adds_apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MANIFESTS_ENV, str(_extra_apps(tmp_path, "hello")))
    catalog = load_catalog()
    assert {"bitly", "shorten_dev", "hello"} <= set(catalog.apps)
    assert "hello.say_hello" in catalog.actions and "bitly.get_user" in catalog.actions


def _list_error(folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> str:
    """`catalog list` with CONNECTOR_MANIFESTS=folder: must exit 2; its error line(s)."""
    monkeypatch.setenv(MANIFESTS_ENV, str(folder))
    assert main(["catalog", "list"]) == 2
    return str(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("folders", "expected"),
    [
        (["bitly"], "more/bitly: app 'bitly' is already defined by the installed app 'bitly'"),
        ([], "more: manifest directory not found"),
        (["Hello World"], "more/Hello World: an app folder's name is its key: ^[a-z][a-z0-9_]*$"),
    ],
)
def test_connector_manifests_refuses_what_it_cannot_add(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    folders: list[str],
    expected: str,
) -> None:
    assert expected in _list_error(_extra_apps(tmp_path, *folders), monkeypatch, capsys)


def test_relative_handler_without_a_handler_package_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _extra_apps(tmp_path, "hello")
    action = folder / "hello" / "say_hello.yaml"
    doc = yaml.safe_load(action.read_text())
    del doc["request"]
    doc["handler"] = ".greet:say_hello"
    action.write_text(yaml.safe_dump(doc))
    err = _list_error(folder, monkeypatch, capsys)
    assert "more/hello/say_hello.yaml: handler: '.greet:say_hello' is relative" in err


def test_no_installed_app_is_a_broken_install(
    entry_points: list[EntryPoint], capsys: pytest.CaptureFixture[str]
) -> None:
    entry_points.clear()
    assert main(["catalog", "list"]) == 2
    assert "connector.apps: no app is installed" in capsys.readouterr().err


def test_sandbox_serve_offers_installed_apps(
    greeter: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector.sandbox import server

    seen: dict[str, Any] = {}

    def fake_serve(app: Any, host: str, port: int, *, on_ready: Any = None) -> None:
        seen.update(app=app, port=port)
        on_ready(f"http://{host}:{port}")

    monkeypatch.setattr(server, "serve", fake_serve)
    assert main(["sandbox", "serve", "greeter", "--token", "secret-token"]) == 0
    assert seen["port"] == 8490
    out = capsys.readouterr().out
    assert out.startswith("Greeter sandbox: http://127.0.0.1:8490/api/v1  token: the --token")
    assert "secret-token" not in out

    assert main(["sandbox", "serve", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no installed app 'nope' with a sandbox" in err and "greeter" in err

    with pytest.raises(SystemExit) as exit_info:  # the app's own options: one line, exit 2
        main(["sandbox", "serve", "greeter", "--port", "x"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: connector sandbox serve greeter: argument --port")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_such_module:SANDBOX", "cannot be loaded: ModuleNotFoundError"),
        ("connector_greeter.sandbox:NOPE", "cannot be loaded: AttributeError"),
        ("connector_greeter:APP", "is a AppPlugin, not a SandboxPlugin"),
    ],
)
def test_a_broken_sandbox_reference_is_named(
    entry_points: list[EntryPoint], reference: str, message: str
) -> None:
    from connector.errors import InvalidConfiguration
    from connector.sandbox.plugin import load_sandbox

    app = AppPlugin(key="odd", manifests=Path("m"), sandbox=reference)
    with pytest.raises(InvalidConfiguration, match=f"app 'odd': sandbox '{reference}' {message}"):
        load_sandbox(app)


def _core_modules() -> Iterator[Path]:
    """connector/'s modules, less each app's own sandbox package (connector/sandbox/<app>/)."""
    apps = set(plugins.installed_apps())
    for path in sorted((ROOT / "connector").rglob("*.py")):
        parts = path.relative_to(ROOT / "connector").parts
        if not (len(parts) > 2 and parts[0] == "sandbox" and parts[1] in apps):
            yield path


def test_the_core_names_no_app() -> None:
    """No app key as a string (a dispatch table, an `if app == ...`), no import of an app's
    package: apps reach the core only through their entry points."""
    apps = set(plugins.installed_apps())
    found = []
    for path in _core_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in apps:
                found.append(f"{path.name}:{node.lineno}: {node.value!r}")
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name.startswith("connector.apps") or name.split(".")[-1] in apps:
                    found.append(f"{path.name}:{node.lineno}: imports {name}")
    assert found == []
