"""Issue 7 points 14 and 15: a literal loop.over is caught before the run; control characters
and escape sequences from names, ids and API messages are shown, never obeyed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from connector.catalog import load_catalog
from connector.cli import main
from connector.engine.workflow import WorkflowInvalid, parse_workflow_text, validate_workflow
from connector.terminal import _UNSAFE, EscapingStream, escape

# (a lone surrogate cannot even be loaded from a workflow file: the YAML reader refuses it)
EVIL = "evil \x1b[31mRED\x1b]0;title\x07 \x9b2J \u202eabc\r\x7f"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[31m", "\\u001b[31m"),
        ("a\rb", "a\\u000db"),
        ("\x9b", "\\u009b"),
        ("\u202e", "\\u202e"),
        ("\ud800", "\\ud800"),
        ("\x7f", "\\u007f"),
        ("tab\tand\nnewline é ☃ 漢", "tab\tand\nnewline é ☃ 漢"),
    ],
)
def test_escape(text: str, expected: str) -> None:
    assert escape(text) == expected


def test_all_ascii_text_is_escaped_as_the_pattern_escapes_it() -> None:
    """`escape` checks ASCII text with a translate table first (`runs show --json` writes
    a gigabyte through it): for every ASCII character, alone and amid plain text, it gives
    what the pattern gives, and plain text comes back as it is."""
    for code in range(128):
        for text in (chr(code), f'{{"k": "a{chr(code)}b"}}\n' * 3):
            assert escape(text) == _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    plain = '{"a": [1, 2.5, "x y"],\n\t"b": null}\n' * 1000
    assert escape(plain) is plain
    assert escape(plain + "\x1b") == plain + "\\u001b"


def test_a_redraw_keeps_its_own_control_sequence_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    EscapingStream(tty).write("\r\x1b[K  step: \x1b[2Jdone\n")
    EscapingStream(pipe).write("\r\x1b[K  step\n")
    assert tty.getvalue() == "\r\x1b[K  step: \\u001b[2Jdone\n"
    assert pipe.getvalue() == "\\u000d\\u001b[K  step\n"


def test_runs_list_and_show_escape_a_hostile_workflow_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = tmp_path / "evil.yaml"
    workflow.write_text(
        json.dumps({"name": EVIL, "steps": [{"id": "u", "action": "bitly.get_user", "inputs": {}}]})
    )
    home = str(tmp_path / "home")
    assert main(["run", str(workflow), "--sandbox", "--home", home]) == 0
    capsys.readouterr()
    for argv in (["runs", "list"], ["runs", "list", "--json"]):
        assert main([*argv, "--home", home]) == 0
        out, err = capsys.readouterr()
        for bad in ("\x1b", "\x07", "\x9b", "\u202e", "\r", "\x7f"):
            assert bad not in out + err
    assert "evil \\u001b[31mRED" in main_output(capsys, ["runs", "list", "--home", home])
    rows = json.loads(main_output(capsys, ["runs", "list", "--json", "--home", home]))
    assert rows[0]["workflow"] == EVIL  # still valid JSON, the same value
    run_id = rows[0]["id"]
    shown = main_output(capsys, ["runs", "show", run_id, "--home", home])
    assert "\x1b" not in shown and "\u202e" not in shown


def test_an_api_message_with_escapes_is_shown_escaped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BITLY_TOKEN", "tok_terminal_0123456789")
    inputs = json.dumps({"bitlink": "bit.ly/\x1b[2J\x1b]0;x\x07"})
    code = main(["actions", "run", "bitly.get_bitlink", "--inputs-json", inputs])
    _, err = capsys.readouterr()
    assert code == 2 and "\x1b" not in err and "\x07" not in err
    assert err.count("\n") == 1


def main_output(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    main(argv)
    return capsys.readouterr().out


# -------------------------------------------------------------------------- point 14


@pytest.mark.parametrize(
    "over", ["https://a.test/one", "trigger.urls", "urls: <<trigger.urls>>", "<<a>> <<b>>"]
)
def test_a_literal_loop_over_is_caught_before_the_run(over: str) -> None:
    doc = parse_workflow_text(
        json.dumps(
            {
                "name": "l",
                "steps": [
                    {
                        "id": "each",
                        "loop": {"over": over},
                        "action": "bitly.get_user",
                        "inputs": {},
                    }
                ],
            }
        )
    )
    with pytest.raises(WorkflowInvalid) as info:
        validate_workflow(doc, load_catalog())
    assert [e.field for e in info.value.errors if "one template" in e.message] == [
        "steps.each.loop.over"
    ]


@pytest.mark.parametrize("over", ["<<trigger.urls>>", "  {{ trigger.urls }} "])
def test_one_template_is_fine(over: str) -> None:
    doc = {
        "name": "l",
        "steps": [{"id": "e", "loop": {"over": over}, "action": "bitly.get_user", "inputs": {}}],
    }
    validate_workflow(doc, load_catalog())


def test_as_found_the_cli_refuses_it_with_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = tmp_path / "loop.yaml"
    workflow.write_text(
        "name: l\nsteps:\n  - id: l\n    loop: {over: 'https://a.test'}\n"
        "    action: bitly.get_user\n    inputs: {}\n"
    )
    home = tmp_path / "home"
    assert main(["run", str(workflow), "--sandbox", "--home", str(home)]) == 2
    err = capsys.readouterr().err
    assert "steps.l.loop.over: must be one template giving a list" in err
    assert not (home / "runs.db").exists()


def test_sandbox_server_logs_are_not_coloured() -> None:
    # Colour codes would be escaped like any other sequence and garble the log lines.
    from starlette.applications import Starlette

    from connector.sandbox.server import uvicorn_config

    assert uvicorn_config(Starlette()).use_colors is False
