"""A composite's own retries of its requests count against the run's attempts: one request is
tried at most `max_attempts` times in all, across the composite's retries and the engine's,
with the run's policy, waits and clock (connector/engine/request_tries.py).

Each test runs a composite Bitly action in a workflow through the real engine and runner,
against a scripted API on an httpx mock transport, on a fake clock: nothing really waits.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from connector.catalog import load_catalog
from connector.clock import FakeClock
from connector.engine.attempts import call_action
from connector.engine.executor import RunResult
from connector.engine.progress import NullProgress
from connector.engine.rate_limits import RateLimitSpec
from connector.engine.report import render_run
from connector.engine.request_tries import CALL_TRIES
from connector.engine.retry_policy import RetryPolicy
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.errors import ServerError

CATALOG = load_catalog()
GROUP = "Bscripted01"

Script = Callable[[httpx.Request], httpx.Response]


class Mid:
    def random(self) -> float:
        return 0.5  # no jitter: waits are exactly the backoff


class Watcher(NullProgress):
    """The long waits a run announces, and what `connector runs show` prints of it."""

    def __init__(self) -> None:
        self.told: list[tuple[float, str]] = []
        self.shown = ""

    def waiting(self, where: str, seconds: float, reason: str) -> None:
        self.told.append((seconds, reason))


class Api:
    """A scripted Bitly: every request counted by method and path, answered by `script`."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sent: Counter[str] = Counter()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.sent[f"{request.method} {request.url.path}"] += 1
        return self.script(request)


def _run(
    tmp_path: Path,
    api: Api,
    action: str,
    inputs: dict[str, Any],
    retry: dict[str, Any] | None = None,
    step_retry: dict[str, Any] | None = None,
    max_wait: float | None = None,
) -> tuple[RunResult, list[dict[str, Any]], FakeClock, Watcher]:
    """The run's result, its step's attempt records, the clock, and what was told."""
    step: dict[str, Any] = {"id": "call", "action": action, "inputs": inputs}
    if step_retry is not None:
        step["retry"] = step_retry
    policy = {"max_attempts": 5, "initial_delay": 1.0, "multiplier": 2.0, "jitter": 0.0}
    doc = {"name": "tries", "retry": {**policy, **(retry or {})}, "steps": [step]}
    workflow = validate_workflow(doc, CATALOG)
    clock = FakeClock()
    watcher = Watcher()

    async def go() -> tuple[RunResult, list[dict[str, Any]]]:
        async with engine_session(
            CATALOG,
            tmp_path / "runs.db",
            base_urls={"bitly": "http://bitly.test/v4"},
            credentials={"bitly": "scripted-token-0000"},
            transport=httpx.MockTransport(api.handle),
            overrides={"bitly": RateLimitSpec(concurrency=5, learn=False)},
            clock=clock,
            rng=Mid(),
            env={},
            max_wait=max_wait,
            progress=watcher,
        ) as engine:
            result = await engine.run(workflow, {})
            watcher.shown = "\n".join(render_run(engine.runlog, result.run_id))
            return result, engine.runlog.steps(result.run_id)[0].attempts

    result, attempts = asyncio.run(go())
    return result, attempts, clock, watcher


def _failing(path: str, response: Callable[[], httpx.Response]) -> Script:
    def script(request: httpx.Request) -> httpx.Response:
        if request.url.path == path:
            return response()
        return httpx.Response(404, json={"message": "NOT_FOUND"})

    return script


def test_a_request_failing_every_time_is_tried_max_attempts_times_in_all(tmp_path: Path) -> None:
    api = Api(_failing("/v4/campaigns/C1", lambda: httpx.Response(503, json={})))
    result, attempts, clock, watcher = _run(
        tmp_path, api, "bitly.campaign_performance_report", {"campaign_guid": "C1"}
    )
    assert result.status == "failed" and result.error is not None
    assert result.error["status"] == 503
    assert api.sent["GET /v4/campaigns/C1"] == 5  # not 4 inside x 5 outside: 5 in all
    assert sum(api.sent.values()) == 5
    # One engine attempt, holding the composite's five tries with the policy's waits.
    assert len(attempts) == 1 and attempts[0]["result"] == "failed"
    tries = attempts[0]["requests"]
    assert [t["try"] for t in tries] == [1, 2, 3, 4, 5]
    assert {t["request"] for t in tries} == {"GET /campaigns/C1"}
    assert all(t["result"] == "failed" and t["status"] == 503 for t in tries)
    assert [t.get("wait") for t in tries] == [1.0, 2.0, 4.0, 8.0, None]
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]  # the run's clock: nothing really waited
    # `runs show` says so under the attempt.
    shown = "GET /campaigns/C1: tried 5 times, 5 failed (HTTP 503), waited 15.00s"
    assert shown in watcher.shown


@pytest.mark.parametrize(
    ("retry", "step_retry", "expected"),
    [({"max_attempts": 3}, None, 3), ({}, {"max_attempts": 2}, 2), ({"max_attempts": 1}, None, 1)],
)
def test_the_policy_is_the_one_the_run_uses(
    tmp_path: Path, retry: dict[str, Any], step_retry: dict[str, Any] | None, expected: int
) -> None:
    api = Api(_failing("/v4/campaigns/C1", lambda: httpx.Response(502, json={})))
    result, attempts, _, _ = _run(
        tmp_path, api, "bitly.campaign_performance_report", {"campaign_guid": "C1"},
        retry=retry, step_retry=step_retry,
    )  # fmt: skip
    assert result.status == "failed"
    assert api.sent["GET /v4/campaigns/C1"] == expected
    assert len(attempts) == 1 and len(attempts[0]["requests"]) == expected


def test_a_throttle_waits_the_servers_window_and_max_wait_caps_it(tmp_path: Path) -> None:
    def throttled() -> httpx.Response:
        return httpx.Response(429, json={"message": "RATE_LIMIT"}, headers={"Retry-After": "7"})

    api = Api(_failing("/v4/campaigns/C1", throttled))
    result, attempts, clock, _ = _run(
        tmp_path, api, "bitly.campaign_performance_report", {"campaign_guid": "C1"},
        retry={"max_attempts": 3},
    )  # fmt: skip
    assert api.sent["GET /v4/campaigns/C1"] == 3
    assert clock.sleeps == [7.0, 7.0]  # the server's 7 s over the 1 s and 2 s of backoff

    # A wait past the run's --max-wait is not waited: throttled at once, one try.
    api = Api(_failing("/v4/campaigns/C1", throttled))
    result, attempts, clock, _ = _run(
        tmp_path / "capped", api, "bitly.campaign_performance_report",
        {"campaign_guid": "C1"}, max_wait=5,
    )  # fmt: skip
    assert api.sent["GET /v4/campaigns/C1"] == 1 and clock.sleeps == []
    assert result.status == "failed" and result.error is not None
    assert result.error["kind"] == "throttled"
    assert "longer than the 5 s this run accepts (max_wait)" in result.error["message"]
    tries = attempts[0]["requests"]
    assert len(tries) == 1 and tries[0]["refused_wait"] == 7.0


def test_a_long_inner_wait_is_announced_like_the_engines(tmp_path: Path) -> None:
    api = Api(_failing("/v4/campaigns/C1", lambda: httpx.Response(503, json={})))
    result, _, clock, watcher = _run(
        tmp_path, api, "bitly.campaign_performance_report", {"campaign_guid": "C1"},
        retry={"initial_delay": 40.0, "max_delay": 40.0, "max_attempts": 2},
    )  # fmt: skip
    assert result.status == "failed" and clock.sleeps == [40.0]
    assert watcher.told == [(40.0, "server error, HTTP 503")]


def test_a_lost_create_is_tried_five_times_in_all_then_read_back_not_resent(
    tmp_path: Path,
) -> None:
    """Find or Create: the lookup finds nothing, every POST /shorten loses its answer. Bitly
    answers a shorten of a URL it has with that link, so the composite sends it again, but
    five times in all; then the engine reads back once and sends nothing more."""

    def script(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v4/shorten":
            raise httpx.ReadError("connection lost after sending")
        if request.url.path == "/v4/user":
            return httpx.Response(200, json={"default_group_guid": GROUP})
        if request.url.path == f"/v4/groups/{GROUP}/bitlinks":
            return httpx.Response(200, json={"links": [], "pagination": {}})
        return httpx.Response(404, json={"message": "NOT_FOUND"})

    api = Api(script)
    result, attempts, _, _ = _run(
        tmp_path, api, "bitly.find_or_create_bitlink", {"long_url": "https://example.com/a"}
    )
    assert api.sent["POST /v4/shorten"] == 5
    assert result.status == "failed" and result.error is not None
    assert result.error["kind"] == "transport" and "may or may not" in result.error["message"]
    # The call, then one read-back (the lookup again: not applied) and no sixth POST.
    assert [a.get("call") for a in attempts] == [None, "reconcile"]
    assert attempts[1]["result"] == "not_applied"
    assert [t["try"] for t in attempts[0]["requests"]] == [1, 2, 3, 4, 5]
    # Each lookup request, too, stays within five tries across the call and the read-back.
    assert api.sent["GET /v4/user"] <= 5
    assert api.sent[f"GET /v4/groups/{GROUP}/bitlinks"] <= 5


def test_a_create_lost_then_refused_is_read_back_and_reported_created(tmp_path: Path) -> None:
    """Find or Create: the first POST lands but its answer is lost; every later try is
    refused with 503 (provably not applied). The last try proves nothing about the first:
    the call's error says its write's fate is unknown, so the engine reads back, finds the
    link the first try made, and reports it created, not found (nor never made)."""
    links: list[dict[str, Any]] = []
    url = "https://example.com/lost-then-refused"

    def script(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v4/shorten":
            if not links:
                links.append({"id": "bit.ly/made1", "link": "https://bit.ly/made1",
                              "long_url": url})  # fmt: skip
                raise httpx.ReadError("connection lost after sending")
            return httpx.Response(503, json={"message": "TEMPORARILY_UNAVAILABLE"})
        if request.url.path == "/v4/user":
            return httpx.Response(200, json={"default_group_guid": GROUP})
        if request.url.path == f"/v4/groups/{GROUP}/bitlinks":
            return httpx.Response(200, json={"links": list(links), "pagination": {}})
        return httpx.Response(404, json={"message": "NOT_FOUND"})

    api = Api(script)
    result, attempts, _, _ = _run(tmp_path, api, "bitly.find_or_create_bitlink", {"long_url": url})
    assert api.sent["POST /v4/shorten"] == 5, "tried five times in all, never a sixth"
    assert result.status == "succeeded", result.error
    assert [a.get("call") for a in attempts] == [None, "reconcile"]
    assert attempts[1]["result"] == "reconciled"
    assert result.output["outcome"] == "created"
    assert result.output["bitlink"]["id"] == "bit.ly/made1" and len(links) == 1


def test_shorten_many_counts_each_urls_tries_and_reports_them(tmp_path: Path) -> None:
    def script(request: httpx.Request) -> httpx.Response:
        url = json.loads(request.content)["long_url"]
        if url.endswith("/bad"):
            return httpx.Response(503, json={})
        return httpx.Response(200, json={"id": "bit.ly/x", "link": "https://bit.ly/x"})

    api = Api(script)
    urls = ["https://example.com/ok", "https://example.com/bad", "https://example.com/bad"]
    result, attempts, _, _ = _run(tmp_path, api, "bitly.shorten_many_urls", {"urls": urls})
    assert result.ok  # a failed URL is reported in the output, not a failed call
    rows = result.output["results"]
    assert [(r["ok"], r["attempts"]) for r in rows] == [(True, 1), (False, 5), (False, 5)]
    assert api.sent["POST /v4/shorten"] == 1 + 5  # the repeated URL is not sent again
    assert len(attempts) == 1 and len(attempts[0]["requests"]) == 5


class CountingHandlerRunner:
    """A runner whose action retries its request "A" under the call's tries, then fails
    on its own (outside any request) once A has succeeded: the engine retries the call."""

    def __init__(self) -> None:
        self.sent = 0

    async def run(self, action_id: str, inputs: dict[str, Any]) -> Any:
        tries = CALL_TRIES.get()
        assert tries is not None, "the engine hands every call its tries"

        async def send() -> str:
            self.sent += 1
            if self.sent != 3:
                raise ServerError("boom", status=503)
            return "ok"

        await tries.send("GET /a", send, label="GET /a")
        raise ServerError("the handler's own failure", status=500)

    async def reconcile(self, action_id: str, inputs: dict[str, Any]) -> Any:
        return None


def test_tries_are_counted_across_the_engines_attempts_too() -> None:
    runner = CountingHandlerRunner()
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=5, initial_delay=1.0, multiplier=2.0, jitter=0.0)
    action = SimpleNamespace(id="fake.composite", idempotent=True, reconcile=None)
    outcome = asyncio.run(
        call_action(action=action, runner=runner, inputs={}, policy=policy, clock=clock, rng=Mid())
    )
    assert runner.sent == 5  # 3 in the first attempt, 2 in the second: 5 in all
    assert isinstance(outcome.error, ServerError) and outcome.error.status == 503
    first, second = outcome.attempts
    assert [(t["try"], t["result"]) for t in first["requests"]] == [
        (1, "failed"), (2, "failed"), (3, "succeeded"),
    ]  # fmt: skip
    assert first["error"]["message"].endswith("the handler's own failure")
    assert [(t["try"], t["result"]) for t in second["requests"]] == [(4, "failed"), (5, "failed")]
    # A request's waits follow its own try count (1 s, 2 s, then 8 s after try 4); the
    # engine's wait between its attempts follows its attempt count (1 s after the first).
    assert clock.sleeps == [1.0, 2.0, 1.0, 8.0]
