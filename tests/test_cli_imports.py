"""The CLI's cheap commands import only what they use.

Each command runs in a fresh interpreter, which reports the modules it loaded; the heavy
ones (the sandbox servers, Jinja, JSON Schema, httpx, the engine) must stay out of commands
that do not need them, or every `--help` pays for them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_CHILD = """
import json, sys
from connector.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # argparse's --help
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""

SANDBOX = "connector.sandbox"
ENGINE = "connector.engine"
HEAVY = ("jinja2", "jsonschema", "httpx", "starlette", "uvicorn", "asyncio", SANDBOX)
NOTHING_BUT_THE_PARSER = (*HEAVY, ENGINE, "connector.catalog", "yaml", "sqlite3")


def _modules(args: list[str], home: Path) -> set[str]:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"CONNECTOR_HOME": str(home), "PATH": ""},
    )
    report = json.loads(child.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), child.stderr
    return set(report["modules"])


#: the sandbox package's argparse types, which `sandbox serve --help` shows
_SANDBOX_OPTIONS = {"connector.sandbox", "connector.sandbox.options"}


def _loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(
        m
        for m in modules - _SANDBOX_OPTIONS
        if m.split(".")[0] in prefixes or m.startswith(prefixes)
    )


@pytest.mark.parametrize(
    ("args", "forbidden"),
    [
        (["--help"], NOTHING_BUT_THE_PARSER),
        (["catalog", "--help"], NOTHING_BUT_THE_PARSER),
        (["actions", "run", "--help"], NOTHING_BUT_THE_PARSER),
        (["runs", "retry", "--help"], NOTHING_BUT_THE_PARSER),
        # (`sandbox serve APP --help` loads that app's sandbox plugin: it holds the options.)
        (["sandbox", "serve", "--help"], NOTHING_BUT_THE_PARSER),
        # Listing reads the manifests (YAML, the manifest checks); it renders no template,
        # sends no request and starts no sandbox.
        (["catalog", "list"], ("jinja2", "httpx", "starlette", "asyncio", SANDBOX, ENGINE)),
        (["catalog", "list", "--json"], ("jinja2", "httpx", "starlette", "asyncio", SANDBOX)),
        # The run log's module imports the write intents, which import the engine's attempt
        # loop and the catalog's models; still no templates, HTTP client or sandbox.
        (["runs", "list"], ("jinja2", "httpx", "starlette", "uvicorn", SANDBOX)),
    ],
)
@pytest.mark.slow
def test_a_cheap_command_imports_only_what_it_uses(
    tmp_path: Path, args: list[str], forbidden: tuple[str, ...]
) -> None:
    modules = _modules(args, tmp_path)
    assert "connector.cli" in modules  # the child really ran the CLI
    assert _loaded(modules, forbidden) == []


@pytest.mark.slow
def test_catalog_list_from_its_index_reads_no_manifest(tmp_path: Path) -> None:
    # The first listing reads the manifests and writes the index (connector/cli/catalog_index);
    # the next ones print from it: no models (pydantic), no YAML, no catalog package.
    first = _modules(["catalog", "list"], tmp_path)
    assert "pydantic" in first and "yaml" in first
    assert (tmp_path / "cache" / "catalog-list.json").is_file()
    for args in (["catalog", "list"], ["catalog", "list", "--json"]):
        modules = _modules(args, tmp_path)
        assert _loaded(modules, ("pydantic", "yaml", "connector.catalog", *HEAVY, ENGINE)) == []


@pytest.mark.slow
def test_the_guard_sees_a_heavy_import(tmp_path: Path) -> None:
    # `catalog validate` checks templates and input schemas: Jinja and JSON Schema load.
    modules = _modules(["catalog", "validate"], tmp_path)
    assert "jinja2" in _loaded(modules, ("jinja2",))
    assert "jsonschema" in _loaded(modules, ("jsonschema",))
