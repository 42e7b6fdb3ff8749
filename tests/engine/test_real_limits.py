"""Real limits (issue 9, point 2): learned from the API's platform_limits, once per process,
refreshed when a throttle shows them stale; set by a workflow, a connection or the
environment (the lowest wins); shown by `connector limits`."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.catalog import load_catalog
from connector.cli import main
from connector.engine import limits as limits_mod
from connector.engine.limits import limits_in_force
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.sandbox import bitly
from connector.sandbox.config import DEMO_BITLY_TOKEN, SandboxConfig
from connector.sandbox.controls import Controls, Limits
from connector.sandbox.server import BackgroundServer

from .pacing_sim import RecordingTransport, run_loop_against_sandbox, shorten_loop

SHORTEN = "POST /v4/shorten"


@pytest.fixture(autouse=True)
def _fresh_process_cache() -> Any:
    # "Once per process": each test is a new process as far as learned figures go.
    limits_mod._LEARNED.clear()
    yield
    limits_mod._LEARNED.clear()


def _custom_sandbox() -> Any:
    limits = Limits(per_minute=70, per_hour=700, per_endpoint={SHORTEN: (30, 300)})
    return bitly.create_app(SandboxConfig(controls=Controls(limits=limits)))


def test_limits_in_force_come_from_the_sandboxs_platform_limits_with_counts_used() -> None:
    app = _custom_sandbox()
    catalog = load_catalog()
    with BackgroundServer(app) as server:
        base = server.url + "/v4"
        headers = {"Authorization": f"Bearer {DEMO_BITLY_TOKEN}"}
        for i in range(3):  # used this hour before the report
            httpx.post(f"{base}/shorten", json={"long_url": f"https://e.com/{i}"}, headers=headers)
        report = asyncio.run(
            limits_in_force(
                catalog,
                "bitly",
                base_urls={"bitly": base},
                credentials={"bitly": DEMO_BITLY_TOKEN},
                env={},
            )
        )
    rows = {(r.scope, r.window): r for r in report.rows}
    shorten_hour = rows[(SHORTEN, "hour")]
    assert shorten_hour.limit == 300 and shorten_hour.used == 3
    assert shorten_hour.source == "bitly API: GET /v4/user/platform_limits"
    assert rows[(SHORTEN, "minute")].limit == 30  # a tenth of the hourly figure
    assert rows[("GET /v4/bitlinks/{bitlink}", "hour")].limit == 700
    # The manifest's app-wide minute/hour defaults are replaced, its concurrency kept.
    assert ("app", "minute") not in rows and rows[("app", "concurrent")].source == "manifest"
    assert report.windows == "fixed"
    assert {f.name for f in report.plan} >= {"encodes"}


def test_connector_limits_bitly_sandbox_shows_the_sandboxs_limits(capsys: Any) -> None:
    assert main(["limits", "bitly", "--sandbox", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {(r["scope"], r["window"]): r for r in data["rows"]}
    # POST /v4/bitlinks has its own, lower limit in the sandbox (as on a basic account):
    # a figure only its platform_limits endpoint can tell.
    assert rows[("POST /v4/bitlinks", "hour")]["limit"] == 500
    assert rows[("POST /v4/bitlinks", "minute")]["limit"] == 50
    assert rows[(SHORTEN, "hour")]["limit"] == 1000
    assert rows[(SHORTEN, "hour")]["source"].endswith("GET /v4/user/platform_limits")
    assert data["from"].startswith("sandbox http://127.0.0.1:")

    assert main(["limits", "bitly", "--sandbox"]) == 0
    text = capsys.readouterr().out
    assert "POST /v4/bitlinks" in text and "monthly plan:" in text


def test_connector_limits_without_a_token_shows_the_declared_figures(capsys: Any) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("BITLY_TOKEN", raising=False)
        mp.setenv("CONNECTOR_LIMITS_BITLY", "per_minute=40")
        assert main(["limits", "bitly"]) == 0
    out = capsys.readouterr().out
    assert "BITLY_TOKEN" in out and "manifest" in out
    assert "environment CONNECTOR_LIMITS_BITLY" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("per_minute=x", "per_minute must be a whole number"),
        ("per_fortnight=3", "unknown limit 'per_fortnight'"),
        ("per_minute", "expected name=number pairs"),
        ("per_minute=0", "at least 1"),
    ],
)
def test_a_bad_limits_variable_exits_2_naming_it(value: str, message: str, capsys: Any) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONNECTOR_LIMITS_BITLY", value)
        assert main(["limits", "bitly"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: CONNECTOR_LIMITS_BITLY: ") and message in err
    assert "Traceback" not in err


def test_an_unknown_app_exits_2_with_a_suggestion(capsys: Any) -> None:
    assert main(["limits", "bitlyy"]) == 2
    assert "did you mean 'bitly'" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["workflow", "connection", "environment"])
def test_user_limits_lower_than_the_apis_win(where: str, tmp_path: Path) -> None:
    # The API allows 100 a minute on /shorten; the user asks for 40: 90 items take two
    # more minutes, not one.
    from .conftest import SimClock

    clock = SimClock(start=0.0)
    app = bitly.create_app(
        SandboxConfig(controls=Controls(limits=Limits(per_hour=1000)), now=clock.wall)
    )
    transport = RecordingTransport(app, clock)
    clock.busy = lambda: transport.inflight > 0
    catalog = load_catalog()
    workflow = validate_workflow(
        shorten_loop({"bitly": {"per_minute": 40}} if where == "workflow" else None), catalog
    )
    env = {"CONNECTOR_LIMITS_BITLY": "per_minute=40"} if where == "environment" else {}
    given = {"bitly": {"per_minute": 40}} if where == "connection" else None

    async def go() -> Any:
        async with engine_session(
            catalog,
            tmp_path / "runs.db",
            base_urls={"bitly": "http://sandbox.test/v4"},
            credentials={"bitly": DEMO_BITLY_TOKEN},
            transport=transport,
            clock=clock,
            rng=random.Random(1),
            env=env,
            limits=given,
        ) as engine:
            result = await engine.run(
                workflow, {"items": [f"https://e.com/{i}" for i in range(90)]}
            )
            return result, engine.budgets["bitly"]

    result, budget = clock.run(go())
    assert result.ok, result.error
    sends = transport.sends("POST", "/v4/shorten")
    # 40 a minute to the app in all: the first minute also holds the four reads of the
    # limits and the plan, so 36 items go at once, then 40 as each minute opens.
    assert len(transport.log) == 94
    assert sends[35] == sends[0] == 0.0 and sends[36] == 60.5
    assert sends[75] == 60.5 and sends[76] == 120.5
    source = {"connection": "connection"}.get(where, "environment CONNECTOR_LIMITS_BITLY")
    if where == "workflow":
        # The run's own limit (connector/engine/run_limits.py): the app's budget, which
        # every run of the process shares, keeps the API's figure.
        source = "bitly API: GET /v4/user/platform_limits"
    assert budget.spec.source(f"{SHORTEN} per_minute") == source
    # The hourly figure is still the API's.
    assert budget.spec.source(f"{SHORTEN} per_hour").startswith("bitly API")


def test_a_workflow_naming_an_unknown_app_in_limits_is_invalid() -> None:
    from connector.engine.workflow import WorkflowInvalid

    with pytest.raises(WorkflowInvalid) as info:
        validate_workflow(shorten_loop({"bitlyy": {"per_minute": 5}}), load_catalog())
    assert "limits.bitlyy" in str(info.value)
    with pytest.raises(WorkflowInvalid):
        validate_workflow(shorten_loop({"bitly": {"per_minute": 0}}), load_catalog())


def test_limits_are_read_once_per_process_and_again_when_a_throttle_says_stale() -> None:
    # The API reports 1,000 an hour (100 a minute) but enforces 60 a minute: the figures
    # are wrong. The first throttle marks them stale; they are read again (no more than
    # once a minute), and every item still succeeds.
    run = run_loop_against_sandbox(150, start=0.0, per_minute=60, per_hour=None)
    reads = [t for t, m, p, _ in run.log if p == "/v4/user/platform_limits"]
    assert run.ok
    assert 1 <= run.throttled <= 5
    assert len(reads) == 2, reads
    # A second run in the same process does not read them again.
    again = run_loop_against_sandbox(5, start=1000.0)
    assert not [p for _, _, p, _ in again.log if p == "/v4/user/platform_limits"]


def test_what_is_already_used_this_hour_is_counted() -> None:
    # Another client used 95 of /shorten's 100 this minute (and of 1,000 this hour). The
    # API reports the 95; the engine sends 5 now and the rest when the next minute opens.
    run = run_loop_against_sandbox(30, start=10.0, used_before=95)
    assert run.ok and run.throttled == 0
    assert run.sends[:5] == [10.0] * 5
    assert run.sends[5:] == [60.5] * 25


def test_callers_arriving_while_the_limits_are_read_wait_for_them() -> None:
    # (A loop reads them before its first item; two runs sharing a budget may not.) The
    # figures are read once, and nobody goes on before they are in force.
    from types import ModuleType, SimpleNamespace

    from connector.engine.limits import ensure_learned
    from connector.engine.rate_budget import RateBudget
    from connector.engine.rate_limits import EndpointLimit, RateLimitSpec

    from .conftest import SimClock

    clock = SimClock(start=0.0)
    reads: list[float] = []
    hook = ModuleType("fake_hook")
    hook.SOURCE = "GET /limits"  # type: ignore[attr-defined]

    async def platform_limits(client: Any) -> list[EndpointLimit]:
        reads.append(clock.now())
        await clock.sleep(2.0)
        return [EndpointLimit("POST", "shorten", "POST /shorten", per_minute=7)]

    hook.platform_limits = platform_limits  # type: ignore[attr-defined]
    spec = SimpleNamespace(rate_limits=SimpleNamespace(learn="fake_hook"))
    budget = RateBudget(RateLimitSpec(per_minute=100), clock=clock)
    client = SimpleNamespace(base_url="http://api.test/")
    done: list[tuple[float, int | None]] = []

    async def caller() -> None:
        await ensure_learned("fake", spec, budget, client, "token")
        done.append((clock.now(), budget.spec.endpoints[0].per_minute))

    async def main() -> None:
        await asyncio.gather(*(caller() for _ in range(5)))

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(__import__("sys").modules, "fake_hook", hook)
        clock.run(main())
    assert reads == [0.0]
    assert done == [(2.0, 7)] * 5


def test_connector_limits_with_a_workflow_shows_its_limits(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(
        "name: slow\nlimits: {bitly: {per_minute: 30}}\n"
        "steps: [{id: me, action: bitly.get_user}]\n",
        encoding="utf-8",
    )
    assert main(["limits", "bitly", "--sandbox", "--workflow", str(path), "--json"]) == 0
    rows = {(r["scope"], r["window"]): r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert (
        rows[(SHORTEN, "minute")] | {"limit": 30, "source": "workflow"} == rows[(SHORTEN, "minute")]
    )
    assert rows[(SHORTEN, "hour")]["source"].startswith("bitly API")
    (tmp_path / "bad.yaml").write_text("name: x\nlimits: {bitly: {per_minute: 0}}\n")
    assert main(["limits", "bitly", "--workflow", str(tmp_path / "bad.yaml")]) == 2


def test_a_relative_learn_module_needs_a_handler_package(tmp_path: Path) -> None:
    from connector.catalog.loader import read_manifests

    app = tmp_path / "example"
    app.mkdir()
    app.joinpath("app.yaml").write_text(
        "name: Example\ndescription: An example API.\n"
        "base_url: https://api.example.com/v1\nbase_url_env: EXAMPLE_API_URL\n"
        "credential: {env: EXAMPLE_TOKEN, scheme: bearer}\n"
        "error_body: {code: error, description: message}\n"
        "errors: [{status: 429, error: throttled}]\n"
        "rate_limits: {concurrency: 5, learn: .limits}\n"
        'sandbox: {command: x, base_url: "http://127.0.0.1:1/v1"}\n',
        encoding="utf-8",
    )
    result = read_manifests(tmp_path)
    assert [(e.field, "handler package" in e.message) for e in result.errors] == [
        ("rate_limits.learn", True)
    ]
    # The installed Bitly app's is made whole against its package.
    assert load_catalog().apps["bitly"].rate_limits.learn == "connector.apps.bitly.limits"
