"""Recording cassettes: deterministic, one action at a time, and enough to add an action.

- Recording every action again gives the committed cassettes byte for byte (the sandboxes'
  clock is frozen, their demo data seeded).
- A missing cassette fails saying which command records it.
- Acceptance: in a copy of the repository, a new declarative manifest is checked by the
  derived tests with no test edited; `python -m tools.record_cassettes` records its cassette
  and no other; after one README row everything passes, and the copy differs from the
  original in exactly the manifest, its cassette and the README.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from connector.catalog import Catalog

from .recording import CASSETTES, REPO, cassette_path, missing_message, record, replay

TOOL = [sys.executable, "-m", "tools.record_cassettes"]


@pytest.mark.slow
def test_recording_every_action_again_gives_the_committed_bytes(
    catalog: Catalog, tmp_path: Path
) -> None:
    action_ids = sorted(catalog.actions)
    written = record(catalog, action_ids, tmp_path)
    assert written == [cassette_path(a, tmp_path) for a in action_ids]
    differ = [
        a
        for a in action_ids
        if not cassette_path(a).is_file()
        or cassette_path(a, tmp_path).read_bytes() != cassette_path(a).read_bytes()
    ]
    assert differ == [], (
        f"recorded again, these cassettes differ from the committed ones: {differ}; "
        "something in a request or response changes from run to run (an id, a timestamp)"
    )


def test_a_missing_cassette_says_how_to_record_it(catalog: Catalog, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        replay(catalog, "bitly.get_user", tmp_path)
    assert str(info.value) == missing_message("bitly.get_user", tmp_path)
    assert "`python -m tools.record_cassettes bitly.get_user`" in str(info.value)
    assert missing_message("bitly.get_user").startswith(
        "no cassette for bitly.get_user (cassettes/bitly/get_user.yaml): "
    )


def test_the_tool_refuses_an_unknown_action_in_one_line() -> None:
    result = subprocess.run(
        [*TOOL, "bitly.get_usr"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: not in the catalog: bitly.get_usr\n"


# A Bitly operation the catalog does not hold yet (GET /groups/{group_guid}), as a new
# declarative manifest: nothing else is written for it.
NEW_ACTION = "bitly.get_group"
NEW_MANIFEST = textwrap.dedent(
    """\
    key: get_group
    name: Get Group
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
COPIED = ("manifests", "cassettes", "tests/catalog", "tools", "README.md", "pyproject.toml")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _failed(result: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(re.findall(r"^FAILED (\S+)", result.stdout, re.M))


@pytest.mark.slow
def test_a_new_manifest_needs_its_cassette_and_a_readme_row_and_nothing_else(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "repo"
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    before = _snapshot(copy)
    manifest = copy / "manifests" / "bitly" / "get_group.yaml"
    manifest.write_text(NEW_MANIFEST)
    env = {**os.environ, "CONNECTOR_MANIFESTS": str(copy / "manifests")}
    # The new action's checks and the catalog-wide ones; the committed actions' are the rest.
    suite = [sys.executable, "-m", "pytest", "-q",
             "tests/catalog/test_every_action.py",
             "-k", "get_group or no_extra_rows or belongs_to_an_action"]  # fmt: skip

    first = _run(suite, copy, env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert all(NEW_ACTION in test for test in _failed(first)), _failed(first)
    assert "python -m tools.record_cassettes bitly.get_group" in first.stdout

    recorded = _run(TOOL, copy, env)  # records what is missing, and only that
    assert (recorded.returncode, recorded.stderr) == (0, ""), recorded.stderr
    assert recorded.stdout == f"recorded {copy / 'cassettes' / 'bitly' / 'get_group.yaml'}\n"

    second = _run(suite, copy, env)
    assert _failed(second) == [
        f"tests/catalog/test_every_action.py::test_readme_catalog_table_lists_the_action[{NEW_ACTION}]"
    ], second.stdout
    assert f"| `{NEW_ACTION}` | Get Group | search |" in second.stdout

    readme = copy / "README.md"
    row = "| `bitly.get_user` |"
    text = readme.read_text(encoding="utf-8")
    at = text.index(row)
    new_row = f"| `{NEW_ACTION}` | Get Group | search | one group's name, organisation, domains |\n"
    readme.write_text(text[:at] + new_row + text[at:], encoding="utf-8")

    third = _run(suite, copy, env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert re.search(r"\b(\d+) passed", third.stdout)

    after = _snapshot(copy)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert changed == [
        "README.md",
        "cassettes/bitly/get_group.yaml",
        "manifests/bitly/get_group.yaml",
    ]
    for path in CASSETTES.rglob("*.yaml"):  # the committed cassettes were not touched either
        assert after[str(path.relative_to(REPO))] == path.read_bytes()
