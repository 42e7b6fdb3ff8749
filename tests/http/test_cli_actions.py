"""`connector actions run`: output on stdout, one clear line on stderr, exit codes 0/1/2."""

from __future__ import annotations

import json

import pytest

from connector.cli import main
from connector.cli.actions_cmd import parse_inputs
from connector.errors import InvalidInput

METRICS = "bitly.get_link_click_metrics"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["actions", "run", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_metrics_on_the_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, METRICS, "--input", "bitlink=bit.ly/spring-sale", "--input", "unit=day",
        "--input", "units=7", "--sandbox", "--json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    output = json.loads(out)
    assert len(output["link_clicks"]) == 7
    assert sum(b["clicks"] for b in output["link_clicks"]) == output["total_clicks"]
    assert out.count("\n") == 1  # --json is one line


def test_invalid_units_exit_2_naming_the_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, METRICS, "--input", "bitlink=bit.ly/abc", "--input", "units=seven", "--sandbox"
    )
    assert code == 2 and out == ""
    assert err.startswith(f"error: {METRICS}: ") and "units" in err and err.count("\n") == 1


def test_invalid_bitlink_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bitly.get_bitlink", "--input", "bitlink=bit.ly/x/../../user")
    assert code == 2
    assert "bit.ly/x/../../user" in err and "bitly.get_bitlink" in err


def test_unknown_action_exit_2_with_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bitly.get_bitlnk")
    assert code == 2
    assert "bitly.get_bitlnk" in err and "bitly.get_bitlink" in err


def test_missing_credential_exit_2_naming_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BITLY_TOKEN", raising=False)
    code, _, err = run(capsys, "bitly.get_user")
    assert code == 2
    assert err.startswith("error: bitly.get_user: ") and "BITLY_TOKEN" in err


def test_unreachable_api_exit_1_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHORTEN_API_KEY", "sk_cli_test_0123456789")
    monkeypatch.setenv("SHORTEN_API_URL", "http://127.0.0.1:9/api/v1")
    code, out, err = run(capsys, "shorten_dev.get_link", "--input", "slug=abc")
    assert code == 1 and out == ""
    assert err.startswith("error: shorten_dev.get_link: could not reach")
    assert err.count("\n") == 1
    assert "sk_cli_test_0123456789" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--inputs-json", "{bad"], "--inputs-json:1:2: not valid JSON"),
        (["--inputs-json", "[1]"], "--inputs-json must be a JSON object"),
        (["--context-json", "3"], "--context-json must be a JSON object"),
        (["--input", "novalue"], "--input takes KEY=VALUE"),
    ],
)
def test_bad_flags_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, "bitly.get_user", *argv)
    assert code == 2 and message in err


def test_context_templates_are_rendered(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The template resolves (or fails) before any request: an undefined path is named.
    monkeypatch.setenv("BITLY_TOKEN", "tok_cli_test_0123456789")
    code, _, err = run(
        capsys, METRICS, "--inputs-json", '{"bitlink": "bit.ly/abc", "units": "{{trigger.units}}"}',
        "--context-json", '{"trigger": {"unit": "day"}}',
    )  # fmt: skip
    assert code == 2
    assert "trigger.units" in err and "unit" in err


def test_parse_inputs() -> None:
    raw = parse_inputs(["a=1", "b=x=y", "t=one", "t=two", "t=three"], '{"a": 0, "c": true}')
    assert raw == {"a": "1", "b": "x=y", "c": True, "t": ["one", "two", "three"]}
    with pytest.raises(InvalidInput):
        parse_inputs(["=x"], None)
