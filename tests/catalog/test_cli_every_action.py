"""Acceptance 4, as a user runs it: every action from the CLI on the embedded sandbox.

`connector actions run APP.KEY --inputs-json ... --sandbox --json` must exit 0, print one
line of JSON on stdout and nothing on stderr, and that JSON must validate against the
action's declared output schema.

The CLI starts a sandbox pair per command (about half a second); here the 16 commands share
one pair, started once, so the suite stays fast. Everything else is the real command path
(tests/http/test_cli_actions.py covers the per-command start). Destructive actions run last
so that the reads see the demo data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector.catalog import load_catalog
from connector.cli import main
from connector.sandbox import embedded

LAST = ("bitly.delete_bitlink", "shorten_dev.revoke_link")
ACTIONS = sorted(load_catalog().actions, key=lambda a: (a in LAST, a))


@pytest.fixture(scope="module")
def shared_sandboxes() -> Iterator[Any]:
    with embedded.embedded_sandboxes() as boxes:
        yield boxes


@pytest.fixture
def one_sandbox_pair(shared_sandboxes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def reuse(**_: Any) -> Iterator[Any]:
        yield shared_sandboxes

    monkeypatch.setattr(embedded, "embedded_sandboxes", reuse)


def test_the_catalog_has_the_sixteen_actions() -> None:
    assert len(ACTIONS) == 16


@pytest.mark.slow
@pytest.mark.parametrize("action_id", ACTIONS)
def test_action_runs_from_the_cli_on_the_sandbox(
    action_id: str,
    catalog: Any,
    replay_inputs: Any,
    one_sandbox_pair: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    action = catalog.get(action_id)
    inputs = json.dumps(replay_inputs(action))
    code = main(["actions", "run", action_id, "--inputs-json", inputs, "--sandbox", "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    assert out.count("\n") == 1
    output = json.loads(out)
    validator = Draft202012Validator(action.output_schema)
    assert [e.message[:200] for e in validator.iter_errors(output)] == []
