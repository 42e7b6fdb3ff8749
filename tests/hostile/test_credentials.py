"""Issue 7 points 5 and 6, and acceptance 2: planted credentials never appear anywhere.

As found: a token ending in \\r (a CRLF .env) was sent as is, httpx's "Illegal header value
b'Bearer ...\\r'" was printed and stored in the run log, and the call retried 5 times; a
token passed as an input value was echoed, cut short, by the input check, which ran before
the token was registered for masking.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.cli import main
from connector.credentials import checked_credential
from connector.errors import InvalidCredential, InvalidInput
from connector.redact import MASK, redact, redact_message, register_secret
from connector.sandbox import bitly
from connector.sandbox.config import SandboxConfig
from connector.sandbox.server import BackgroundServer

TOKEN = "tok_planted_0123456789abcdefABCDEF"


# -------------------------------------------------------------------------- loading


@pytest.mark.parametrize("raw", [TOKEN + "\r", TOKEN + "\r\n", f"  {TOKEN}\n", f"\t{TOKEN} "])
def test_surrounding_whitespace_is_stripped_when_loaded(raw: str) -> None:
    assert checked_credential(raw, "BITLY_TOKEN") == TOKEN
    assert redact(f"x {raw!r} y") == f"x '{MASK}' y" or MASK in redact(f"x {raw!r} y")


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        ("tok_\r_inside_0123456789", "a control character"),
        ("tok_\x1b[31m_0123456789", "a control character"),
        ("tok_\x00_0123456789", "a control character"),
        ("tök_non_ascii_0123456789", "non-ASCII"),
        ("tok_\u202e_bidi_0123456789", "non-ASCII"),
    ],
)
def test_a_credential_no_header_can_carry_is_refused_naming_the_variable(
    raw: str, what: str
) -> None:
    with pytest.raises(InvalidCredential) as info:
        checked_credential(raw, "BITLY_TOKEN")
    assert info.value.exit_code == 2
    message = str(info.value)
    assert message.startswith("BITLY_TOKEN: ") and what in message
    assert raw not in message and raw.strip()[:8] not in message


def _forms(secret: str) -> list[str]:
    """Every spelling a message may carry `secret` in (what the masking must cover)."""
    raw = secret.encode()
    found = [
        secret,
        repr(secret)[1:-1],
        repr(raw)[2:-1],
        secret.encode("unicode_escape").decode(),
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")),
        quote_plus(secret),
        base64.b64encode(raw).decode().rstrip("="),
        base64.b64encode(b"Bearer " + raw).decode().rstrip("="),
        base64.urlsafe_b64encode(b"x:" + raw).decode().rstrip("="),
    ]
    return found


@pytest.mark.parametrize("secret", [TOKEN, "tok/with+plus=and/slash_0123", "clé-secrète-☃-0123"])
def test_every_form_is_masked(secret: str) -> None:
    register_secret(secret)
    for form in _forms(secret):
        text = f"server said: <{form}> (end)"
        masked = redact(text)
        # base64 of a prefixed value keeps a few characters that mix in the prefix: the
        # secret's own characters are what must be gone.
        assert secret not in masked and form not in masked, (form, masked)


def test_a_secret_cut_short_in_a_message_is_masked_too() -> None:
    register_secret(TOKEN)
    assert redact_message(f"got '{TOKEN[:20]}...") == f"got '{MASK}..."
    assert redact_message(f"got {TOKEN[:30]}") == f"got {MASK}"  # cut at the end
    assert redact_message("a short word...") == "a short word..."


# -------------------------------------------------------------------------- the CLI, as found


@pytest.fixture
def sandbox() -> Iterator[BackgroundServer]:
    app = bitly.create_app(SandboxConfig(seed=1, tokens={TOKEN: frozenset()}))
    with BackgroundServer(app) as server:
        server.app_state = app.state  # type: ignore[attr-defined]
        yield server


def _requests(server: BackgroundServer) -> int:
    return sum(server.app_state.counts.values())  # type: ignore[attr-defined]


def test_as_found_a_crlf_token_is_stripped_and_works_first_time(
    sandbox: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BITLY_TOKEN", TOKEN + "\r")
    monkeypatch.setenv("BITLY_API_URL", sandbox.url + "/v4")
    code = main(["actions", "run", "bitly.get_user", "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["login"] and err == ""
    assert _requests(sandbox) == 1  # sent once, accepted: no "Illegal header value", no retry


def test_a_token_with_an_inner_control_character_exits_2_before_any_request(
    sandbox: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = TOKEN[:10] + "\r" + TOKEN[10:]
    monkeypatch.setenv("BITLY_TOKEN", bad)
    monkeypatch.setenv("BITLY_API_URL", sandbox.url + "/v4")
    code = main(["actions", "run", "bitly.get_user"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: bitly.get_user: BITLY_TOKEN: the credential holds")
    assert err.count("\n") == 1 and TOKEN[:10] not in err and TOKEN[11:] not in err
    assert _requests(sandbox) == 0


@pytest.mark.parametrize("key", ["units", "unit", "bitlink"])
def test_as_found_a_token_passed_as_an_input_is_not_echoed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    long_token = TOKEN * 2  # longer than the 40 characters an input error quotes
    monkeypatch.setenv("BITLY_TOKEN", long_token)
    inputs = {"bitlink": "bit.ly/abc", "unit": "day", key: long_token}
    code = main(
        ["actions", "run", "bitly.get_link_click_metrics", "--inputs-json", json.dumps(inputs)]
    )
    _, err = capsys.readouterr()
    assert code == 2 and f"input '{key}'" in err and MASK in err
    assert long_token[:12] not in err


def test_as_found_run_action_in_python_masks_a_token_passed_as_an_input() -> None:
    from connector.api import run_action

    long_token = TOKEN * 2
    with pytest.raises(InvalidInput) as info:
        asyncio.run(
            run_action(
                "bitly.get_link_click_metrics",
                {"bitlink": "bit.ly/abc", "unit": "day", "units": long_token},
                credentials={"bitly": long_token},
            )
        )
    assert MASK in str(info.value) and long_token[:12] not in str(info.value)
    assert long_token[:12] not in repr(info.value.to_dict())


# -------------------------------------------------------------------------- acceptance 2


def _hostile_app() -> Starlette:
    """A Bitly look-alike that echoes the Authorization header back in every form."""

    async def echo(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        encoded = base64.b64encode(auth.encode()).decode()
        return JSONResponse(
            {
                "message": "INVALID_ARG_TOKEN",
                "description": f"bad token {quote(token, safe='')} ({token!r}, {encoded})",
                "errors": [{"field": "token", "message": f"{token} {quote_plus(token)}"}],
            },
            status_code=400,
            headers={"WWW-Authenticate": f'Bearer error="invalid_token" token="{token}"'},
        )

    async def missing(request: Request) -> JSONResponse:
        # the credential in headers and a body that is not the API's error shape
        auth = request.headers.get("authorization", "")
        return JSONResponse(
            {"error": f"no such link for {auth}"},
            status_code=404,
            headers={"WWW-Authenticate": auth, "X-Echo": quote(auth)},
        )

    return Starlette(
        routes=[
            Route("/v4/user", echo),
            Route("/v4/bitlinks/{domain}/{hash}", missing),
        ]
    )


WORKFLOW = """\
name: planted
trigger:
  sample: {t: "{token}"}
retry: {max_attempts: 2, initial_delay: 0, max_delay: 0}
steps:
  - id: expand
    action: bitly.get_bitlink
    inputs: {bitlink: "bit.ly/<<trigger.t|length>>"}
    retry: {max_attempts: 2}
  - id: me
    action: bitly.get_user
    inputs: {}
"""


@pytest.mark.parametrize(
    "planted",
    [
        "tok_plain_0123456789abcdef",
        "tok_crlf_0123456789abcdef\r\n",
        "tok_lf_0123456789abcdef\n",
        "tok/url+encoded=chars_0123",
    ],
    ids=["plain", "crlf", "lf", "url-chars"],
)
def test_acceptance_no_planted_credential_appears_in_any_output_or_run_log(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    planted: str,
) -> None:
    token = planted.strip()
    workflow = tmp_path / "planted.yaml"
    workflow.write_text(WORKFLOW.replace("{token}", token))
    home = tmp_path / "home"
    with BackgroundServer(_hostile_app()) as server:
        monkeypatch.setenv("BITLY_TOKEN", planted)
        monkeypatch.setenv("BITLY_API_URL", server.url + "/v4")
        outputs = []
        trigger = json.dumps({"t": token})
        code = main(["run", str(workflow), "--home", str(home), "--trigger", trigger])
        outputs.append(capsys.readouterr())
        assert code == 1  # the server refused: the run failed, the run log says why
        # and a run whose first step gets the echoing 400 (the run log keeps that error)
        only_me = tmp_path / "me.yaml"
        only_me.write_text(
            WORKFLOW.replace("{token}", token).split("  - id: expand")[0]
            + ("  - id: me\n    action: bitly.get_user\n    inputs: {}\n")
        )
        assert main(["run", str(only_me), "--home", str(home), "--trigger", trigger]) == 1
        outputs.append(capsys.readouterr())
        run_id = json.loads(_cli(capsys, ["runs", "list", "--home", str(home), "--json"], outputs))[
            0
        ]["id"]
        _cli(capsys, ["runs", "show", run_id, "--home", str(home), "--json"], outputs)
        _cli(capsys, ["runs", "show", run_id, "--home", str(home)], outputs)
        _cli(capsys, ["runs", "list", "--home", str(home)], outputs)
        _cli(capsys, ["actions", "run", "bitly.get_user"], outputs)
        inputs = json.dumps({"bitlink": token})
        _cli(capsys, ["actions", "run", "bitly.get_bitlink", "--inputs-json", inputs], outputs)
    texts = [o.out + o.err for o in outputs]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in home.iterdir()]
    assert any("INVALID_ARG_TOKEN" in t for t in texts)  # the echoes did arrive
    run_log = (home / "runs.db").read_bytes().decode("utf-8", "replace")
    assert "INVALID_ARG_TOKEN" in run_log and MASK in run_log
    for form in _forms(token):
        for text in texts:
            assert form not in text, (form, text[:400])


def test_acceptance_a_non_ascii_credential_is_refused_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = "tok_nön_ascii_0123456789"
    workflow = tmp_path / "planted.yaml"
    workflow.write_text(WORKFLOW.replace("{token}", "x"))
    monkeypatch.setenv("BITLY_TOKEN", planted)
    code = main(["run", str(workflow), "--home", str(tmp_path / "home")])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: BITLY_TOKEN: the credential holds non-ASCII")
    assert not (tmp_path / "home" / "runs.db").exists()  # refused before the run log opened
    for form in _forms(planted):
        assert form not in out + err


def _cli(capsys: pytest.CaptureFixture[str], argv: list[str], outputs: list) -> str:
    main(argv)
    captured = capsys.readouterr()
    outputs.append(captured)
    return captured.out


def test_as_found_an_illegal_header_value_is_not_retried_and_never_quoted() -> None:
    """Whatever still reaches httpx with a character a header cannot carry fails at once,
    masked: it was retried 5 times, quoting the token each time."""
    import httpx

    from connector.clock import FakeClock
    from connector.engine.attempts import call_action
    from connector.engine.retry_policy import RetryPolicy
    from connector.errors import FatalError
    from connector.runner import ActionRunner

    raw = TOKEN + "\r"
    register_secret(raw)
    sent: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.LocalProtocolError(f"Illegal header value {('Bearer ' + raw).encode()!r}")

    async def go() -> object:
        from connector.catalog import load_catalog

        catalog = load_catalog()
        async with ActionRunner(
            catalog,
            base_urls={"bitly": "https://api.test/v4"},
            credentials={"bitly": TOKEN},
            transport=httpx.MockTransport(refuse),
        ) as runner:
            return await call_action(
                action=catalog.get("bitly.get_user"), runner=runner, inputs={},
                policy=RetryPolicy(max_attempts=5), clock=FakeClock(), rng=None,  # type: ignore[arg-type]
            )  # fmt: skip

    outcome = asyncio.run(go())
    assert isinstance(outcome.error, FatalError) and len(sent) == 1  # tried once
    message = str(outcome.error)
    assert "not valid HTTP" in message and MASK in message
    assert TOKEN not in message and "\\r" not in message.replace(MASK, "")
