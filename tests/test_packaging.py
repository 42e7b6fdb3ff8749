"""The wheel, installed in a fresh virtual environment outside the checkout, has the whole
catalog and runs; a third-party app installed beside it joins the catalog and runs.

Offline by construction: the wheels are built without build isolation (setuptools comes with
the `test` extra) and installed with --no-index --no-deps; the fresh venv borrows this venv's
dependencies through a .pth file naming a folder of links to them, the connector itself
left out, so what it imports as `connector` is the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

from connector.catalog import load_catalog
from connector.cli import main

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_APP = Path(__file__).resolve().parent / "plugin_app"
#: what the wheel is built from; anything else the build needs is a bug this test shows
SOURCES = ("pyproject.toml", "README.md", "connector", "actions", "manifests")
#: what the fresh venv must not borrow from this one: the connector and the test plugin
OWN = ("connector", "__editable__", "connector_greeter")


def _packages_in(folder: Path, prefix: str) -> set[str]:
    """Every folder holding files, as a dotted package name (namespace packages included)."""
    found = set()
    for path in [folder, *folder.rglob("*")]:
        holds_files = path.is_dir() and any(p.is_file() for p in path.iterdir())
        if holds_files and "__pycache__" not in path.parts:
            found.add(".".join((prefix, *path.relative_to(folder).parts)))
    return found


def test_packages_listed_in_pyproject_match_the_tree() -> None:
    """`packages` is explicit (a mapped folder is invisible to `find`): a new subpackage must
    be listed, or the wheel would silently lack it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {
        "connector.apps": "actions",
        "connector.manifests": "manifests",
    }
    expected = _packages_in(ROOT / "connector", "connector") | _packages_in(
        ROOT / "actions", "connector.apps"
    )
    expected.add("connector.manifests")  # its app folders ship as package data ("*/*.yaml")
    assert set(config["packages"]) == expected


#: nothing from the outside may point the fresh venv back at the checkout
_CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CONNECTOR_MANIFESTS")}


def _run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=_CLEAN_ENV, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return result


def _wheel(source: Path, out: Path) -> Path:
    before = set(out.glob("*.whl"))
    pip = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation")
    _run(*pip, "--no-index", "-q", "-w", out, source)
    (built,) = set(out.glob("*.whl")) - before
    return built


@dataclass(frozen=True)
class Wheels:
    connector: Path
    greeter: Path


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    have = version("setuptools")
    assert tuple(int(p) for p in have.split(".")[:2]) >= (70, 1), (
        f"setuptools {have} cannot build the wheel offline: install the test extra "
        "(pip install -e '.[test]')"
    )
    work = tmp_path_factory.mktemp("wheels")
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    plugin = work / "plugin_app"
    shutil.copytree(PLUGIN_APP, plugin, ignore=shutil.ignore_patterns("__pycache__"))
    out = work / "dist"
    out.mkdir()
    return Wheels(connector=_wheel(src, out), greeter=_wheel(plugin, out))


@dataclass(frozen=True)
class Venv:
    root: Path
    #: a folder outside the checkout, where commands run
    cwd: Path

    def install(self, wheel: Path) -> None:
        python = self.root / "bin" / "python"
        pip = (sys.executable, "-m", "pip", "--python", python, "install")
        _run(*pip, "--no-deps", "--no-index", "-q", wheel)

    def connector(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return _run(self.root / "bin" / "connector", *argv, cwd=self.cwd)

    def python(self, code: str) -> str:
        return _run(self.root / "bin" / "python", "-c", code, cwd=self.cwd).stdout.strip()


@pytest.fixture
def venv(tmp_path: Path, wheels: Wheels) -> Iterator[Venv]:
    root = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", root)
    borrowed = tmp_path / "deps"
    borrowed.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if not entry.name.startswith(OWN) and entry.suffix != ".pth":
            (borrowed / entry.name).symlink_to(entry)
    site = _run(
        root / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    )
    (Path(site.stdout.strip()) / "borrowed_deps.pth").write_text(f"{borrowed}\n")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    yield Venv(root=root, cwd=cwd)


@pytest.mark.slow
def test_the_wheel_ships_the_catalog_inside_the_connector_package(wheels: Wheels) -> None:
    with zipfile.ZipFile(wheels.connector) as wheel:
        names = wheel.namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"connector"}, "nothing outside `connector` (no top-level `actions`)"
    for app in load_catalog().apps:
        assert f"connector/manifests/{app}/app.yaml" in names
        assert f"connector/apps/{app}/__init__.py" in names


@pytest.mark.slow
def test_fresh_venv_lists_every_action_and_runs_one(
    venv: Venv, wheels: Wheels, capsys: pytest.CaptureFixture[str]
) -> None:
    venv.install(wheels.connector)
    where = venv.python("import connector, connector.apps; print(connector.apps.__file__)")
    assert where.startswith(str(venv.root)), where

    listed = json.loads(venv.connector("catalog", "list", "--json").stdout)
    assert sorted(row["id"] for row in listed) == sorted(load_catalog().actions)
    assert venv.connector("catalog", "validate").stdout.startswith("ok:")

    ran = venv.connector("actions", "run", "bitly.get_user", "--sandbox", "--json")
    assert main(["actions", "run", "bitly.get_user", "--sandbox", "--json"]) == 0
    assert json.loads(ran.stdout) == json.loads(capsys.readouterr().out)
    assert json.loads(ran.stdout)["login"] == "sandbox_user"

    # a handler named relative to its app's package (`.links:list_links`) resolves installed
    listed_links = venv.connector("actions", "run", "shorten_dev.list_links", "--sandbox", "--json")
    assert json.loads(listed_links.stdout)["links"], "the demo data has links"


@pytest.mark.slow
def test_a_third_party_app_joins_the_installed_catalog_and_runs(venv: Venv, wheels: Wheels) -> None:
    venv.install(wheels.connector)
    venv.install(wheels.greeter)

    listed = venv.connector("catalog", "list").stdout.splitlines()
    ids = {line.split()[0] for line in listed}
    assert ids == set(load_catalog().actions) | {"greeter.say_hello"}
    assert venv.connector("catalog", "validate").stdout.startswith("ok:")

    ran = venv.connector(
        "actions", "run", "greeter.say_hello", "--sandbox", "--json", "--input", "name=Ada"
    )
    assert json.loads(ran.stdout) == {"greeting": "Hello, Ada!", "language": "en"}
    helped = venv.connector("sandbox", "serve", "greeter", "--help").stdout
    assert "connector sandbox serve greeter" in helped and "--token" in helped
