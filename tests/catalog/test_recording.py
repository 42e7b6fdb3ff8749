"""Recording cassettes: deterministic, one action at a time, and enough to add an action.

- Recording every action again gives the committed cassettes byte for byte (the sandboxes'
  clock is frozen, their demo data seeded).
- A missing cassette fails saying which command records it.
- Recording one named action rewrites its cassette and no other; `--live` takes base URLs and
  credentials from the environment; the tool refuses bad arguments in one line.
- Acceptance: in a copy of the repository (its own Python files, manifests, cassettes, tests
  and README), a new declarative manifest is checked by the derived tests with no test
  edited; `python -m tools.record_cassettes` records its cassette and no other; after one
  README row everything passes, and the copy differs from the original in exactly the
  manifest, its cassette and the README.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import httpx
import pytest

from connector.catalog import Catalog
from connector.sandbox.embedded import embedded_sandboxes

from .recording import (
    CASSETTES,
    REPO,
    cassette_path,
    frozen_sandboxes,
    missing_message,
    record,
    replay,
)

TOOL = [sys.executable, "-m", "tools.record_cassettes"]


@pytest.mark.slow
def test_recording_every_action_again_gives_the_committed_bytes() -> None:
    """`--check` records every action into a temporary directory and compares byte for byte:
    the committed cassettes were recorded on another day, in another process."""
    result = subprocess.run(
        [*TOOL, "--check"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, ""), (
        f"recorded again, cassettes differ from the committed ones (something in a request or "
        f"response changes from run to run: an id, a timestamp):\n{result.stdout}{result.stderr}"
    )
    assert result.stdout.startswith("all ") and "byte for byte" in result.stdout


@pytest.mark.slow
def test_recording_one_action_writes_its_cassette_alone(catalog: Catalog, tmp_path: Path) -> None:
    for action_id in sorted(catalog.actions):  # copy every committed cassette
        target = cassette_path(action_id, tmp_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(cassette_path(action_id).read_bytes())
    stale = cassette_path("bitly.get_user", tmp_path)
    stale.write_text("interactions: []\nversion: 1\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.yaml")}

    result = subprocess.run(
        [*TOOL, "bitly.get_user", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, f"recorded {stale}\n"), result.stderr
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert [p for p in after if after[p] != before.get(p)] == [stale]
    assert stale.read_bytes() == cassette_path("bitly.get_user").read_bytes()


@pytest.mark.slow
def test_live_recording_takes_urls_and_credentials_from_the_environment(
    catalog: Catalog, tmp_path: Path
) -> None:
    """`--live` against a stand-in for the real API (a sandbox on loopback, named by the app's
    base-URL variable): the cassette is written against the fixed base, without the token."""
    with embedded_sandboxes() as boxes:
        app = catalog.apps["bitly"]
        env = {app.base_url_env: boxes.base_urls["bitly"],
               app.credential_env: boxes.credentials["bitly"]}  # fmt: skip
        [written] = record(catalog, ["bitly.get_user"], tmp_path, live=True, env=env)
    text = written.read_text()
    assert "uri: http://bitly.sandbox.test/v4/user" in text
    assert "127.0.0.1" not in text and boxes.credentials["bitly"] not in text


def test_frozen_sandboxes_never_hold_a_rate_window_shut() -> None:
    """Frozen, a sandbox's rate windows would never reopen: the frozen sandboxes enforce no
    limits, so a shared set serves any number of the catalog's reads."""
    with frozen_sandboxes() as boxes, httpx.Client() as client:
        url = f"{boxes.base_urls['bitly']}/user"
        headers = {"Authorization": f"Bearer {boxes.credentials['bitly']}"}
        statuses = {client.get(url, headers=headers).status_code for _ in range(150)}
    assert statuses == {200}


def test_a_missing_cassette_says_how_to_record_it(catalog: Catalog, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        replay(catalog, "bitly.get_user", tmp_path)
    assert str(info.value) == missing_message("bitly.get_user", tmp_path)
    assert "`python -m tools.record_cassettes bitly.get_user`" in str(info.value)
    assert missing_message("bitly.get_user").startswith(
        "no cassette for bitly.get_user (cassettes/bitly/get_user.yaml): "
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bitly.get_usr"], "not in the catalog: bitly.get_usr"),
        (["--all", "bitly.get_user"], "name actions, or give --all, or --check; not several"),
        (["--check", "--live"], "--check compares sandbox recordings; it cannot be --live"),
        (["--live", "bitly.get_user"], "--live needs BITLY_TOKEN set"),
    ],
)
def test_the_tool_refuses_bad_arguments_in_one_line(args: list[str], message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BITLY_TOKEN"}
    result = subprocess.run(
        [*TOOL, *args], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"error: {message}\n")


# An action the catalog does not hold yet (a second reader of GET /groups/{group_guid}), as a
# new declarative manifest: nothing else is written for it.
NEW_ACTION = "bitly.read_group"
NEW_MANIFEST = textwrap.dedent(
    """\
    key: read_group
    name: Read Group
    description: One group's details; its name, organisation and branded domains.
    kind: search
    idempotent: true
    inputs:
      - key: group_guid
        label: Group GUID
        type: string
        required: true
        example: Bdemo000001
    request:
      method: GET
      path: /groups/{group_guid}
    output:
      schema:
        type: object
        required: [guid, organization_guid, name, created, modified, is_active, role, bsds]
        properties:
          guid: {type: string}
          organization_guid: {type: string}
          name: {type: string}
          created: {type: string}
          modified: {type: string}
          is_active: {type: boolean}
          role: {type: string}
          bsds: {type: array, items: {type: string}}
      sample:
        guid: Bdemo000001
        organization_guid: Odemo000001
        name: Demo group
        created: 2026-01-05T10:00:00+0000
        modified: 2026-01-05T10:00:00+0000
        is_active: true
        role: org-admin
        bsds: [sbx.ly]
    sample_request: {group_guid: "{{trigger.group}}"}
    notes:
      - {question: What is it for?, answer: Reading a group's name and domains.}
    """
)
_NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "build", "dist", "*.egg-info", ".mypy_cache", ".ruff_cache"
)


def _clone(copy: Path) -> None:
    """The repository's files in `copy`, importable from there as an editable install would
    make them: a package that pyproject maps to another folder is linked to it."""
    shutil.copytree(REPO, copy, ignore=_NOT_COPIED, symlinks=True)
    config = tomllib.loads((copy / "pyproject.toml").read_text(encoding="utf-8"))
    mapped = config.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    for package, folder in mapped.items():
        link = copy / package.replace(".", "/")
        if package and not link.exists():
            link.symlink_to(copy / folder, target_is_directory=True)


def _snapshot(root: Path) -> dict[str, bytes]:
    files = {}
    for folder, dirs, names in os.walk(root):  # not into the links _clone made
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            path = Path(folder) / name
            if not path.is_symlink():
                files[str(path.relative_to(root))] = path.read_bytes()
    return files


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _failed(result: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(re.findall(r"^FAILED (\S+)", result.stdout, re.M))


@pytest.mark.slow
def test_a_new_manifest_needs_its_cassette_and_a_readme_row_and_nothing_else(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "repo"
    _clone(copy)
    before = _snapshot(copy)
    manifest = copy / "manifests" / "bitly" / "read_group.yaml"
    manifest.write_text(NEW_MANIFEST)
    # The copy's Python, manifests and tests: the catalog is the copy's own.
    env = {k: v for k, v in os.environ.items() if k != "CONNECTOR_MANIFESTS"}
    env["PYTHONPATH"] = str(copy)
    # The new action's checks and the catalog-wide ones; the committed actions' are the rest.
    suite = [sys.executable, "-m", "pytest", "-q",
             "tests/catalog/test_every_action.py",
             "-k", "read_group or no_extra_rows or belongs_to_an_action"]  # fmt: skip

    first = _run(suite, copy, env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert all(NEW_ACTION in test for test in _failed(first)), _failed(first)
    assert "python -m tools.record_cassettes bitly.read_group" in first.stdout

    recorded = _run(TOOL, copy, env)  # records what is missing, and only that
    assert (recorded.returncode, recorded.stderr) == (0, ""), recorded.stderr
    assert recorded.stdout == f"recorded {copy / 'cassettes' / 'bitly' / 'read_group.yaml'}\n"

    second = _run(suite, copy, env)
    assert _failed(second) == [
        f"tests/catalog/test_every_action.py::test_readme_catalog_table_lists_the_action[{NEW_ACTION}]"
    ], second.stdout
    assert f"| `{NEW_ACTION}` | Read Group | search |" in second.stdout

    readme = copy / "README.md"
    row = "| `bitly.get_user` |"
    text = readme.read_text(encoding="utf-8")
    at = text.index(row)
    new_row = (
        f"| `{NEW_ACTION}` | Read Group | search | one group's name, organisation, domains |\n"
    )
    readme.write_text(text[:at] + new_row + text[at:], encoding="utf-8")

    third = _run(suite, copy, env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert re.search(r"\b(\d+) passed", third.stdout)

    after = _snapshot(copy)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert changed == [
        "README.md",
        "cassettes/bitly/read_group.yaml",
        "manifests/bitly/read_group.yaml",
    ]
    for path in CASSETTES.rglob("*.yaml"):  # the committed cassettes were not touched either
        assert after[str(path.relative_to(REPO))] == path.read_bytes()
