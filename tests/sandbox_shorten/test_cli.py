"""`connector sandbox serve ...`: options become the config; bad values exit 2 naming the option."""

from __future__ import annotations

from typing import Any

import pytest

from connector.cli import main
from connector.sandbox import server
from connector.sandbox.config import DEMO_SHORTEN_KEY


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_serve(app: Any, host: str, port: int, *, on_ready: Any = None) -> None:
        seen.update(app=app, host=host, port=port)
        on_ready(f"http://{host}:{port}")

    monkeypatch.setattr(server, "serve", fake_serve)
    return seen


def test_shorten_options_reach_the_app(served: dict[str, Any], capsys: Any) -> None:
    argv = [
        "sandbox", "serve", "shorten_dev", "--port", "9999", "--token", "sk_private=read,write",
        "--token", "sk_other", "--per-minute", "5", "--concurrency", "2", "--error-rate", "0.25",
        "--fault-seed", "7", "--creation-limit", "12", "--admin",
    ]  # fmt: skip
    assert main(argv) == 0
    app = served["app"]
    assert served["port"] == 9999
    controls = app.state.controls.controls
    assert controls.limits.per_minute == 5 and controls.limits.concurrency == 2
    assert controls.faults.error_rate == 0.25 and controls.faults.seed == 7
    assert controls.admin is True
    assert app.state.sandbox.creation_limit_per_hour == 12
    assert app.state.sandbox.keys._keys == {
        "sk_private": frozenset({"read", "write"}),
        "sk_other": frozenset({"read", "write", "admin"}),
    }
    out = capsys.readouterr().out
    assert out.startswith("shorten.dev sandbox: http://127.0.0.1:9999/api/v1")
    assert "sk_private" not in out and "sk_other" not in out


def test_demo_key_is_printed(served: dict[str, Any], capsys: Any) -> None:
    assert main(["sandbox", "serve", "shorten_dev", "--seed", "demo"]) == 0
    assert DEMO_SHORTEN_KEY in capsys.readouterr().out
    assert served["port"] == 8412
    assert served["app"].state.store.count_links() > 0


@pytest.mark.parametrize("app", ["shorten_dev", "bitly"])
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "70000"], "--port"),
        (["--port", "x"], "--port"),
        (["--seed", "lots"], "--seed"),
        (["--per-minute", "-1"], "--per-minute"),
        (["--error-rate", "1.5"], "--error-rate"),
        (["--drop-rate", "nan?"], "--drop-rate"),
        (["--latency-ms", "-5"], "--latency-ms"),
        (["--fault-seed", "1.5"], "--fault-seed"),
        (["--db", "/no/such/folder/x.db"], "--db"),
        (["--token", ""], "--token"),
    ],
)
def test_bad_values_exit_2(app: str, args: list[str], needle: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sandbox", "serve", app, *args])
    assert exit_info.value.code == 2
    assert needle in capsys.readouterr().err


def test_bad_scopes_do_not_echo_the_key(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        main(["sandbox", "serve", "shorten_dev", "--token", "sk_secret123=read,root"])
    err = capsys.readouterr().err
    assert "root" in err and "sk_secret123" not in err


def test_bitly_free_plan_answers_402_on_premium_operations(served: dict[str, Any]) -> None:
    import asyncio

    import httpx

    from connector.sandbox.config import DEMO_BITLY_TOKEN

    assert main(["sandbox", "serve", "bitly", "--plan", "free"]) == 0

    async def statuses() -> tuple[int, int]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=served["app"]),
            base_url="http://sandbox.test",
            headers={"Authorization": f"Bearer {DEMO_BITLY_TOKEN}"},
        ) as client:
            premium = await client.get("/v4/campaigns")
            basic = await client.get("/v4/user")
            return premium.status_code, basic.status_code

    assert asyncio.run(statuses()) == (402, 200)
