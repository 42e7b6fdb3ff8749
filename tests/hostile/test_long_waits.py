"""Issue 7 point 16 (waits): a 2,892 s Retry-After was waited silently for 48 minutes.

Now a long wait is announced as it starts, with its reason, and a run can set the longest
wait it accepts (`retry.max_wait` in the workflow, `--max-wait` on the CLI) past which the
item fails as throttled. Simulated clock: nothing here really waits.
"""

from __future__ import annotations

import asyncio
import io
import math
from types import SimpleNamespace
from typing import Any

import pytest

from connector.clock import FakeClock
from connector.engine.attempts import LONG_WAIT, call_action
from connector.engine.progress import LineProgress
from connector.engine.rate_budget import RateBudget, RateLimitSpec
from connector.engine.retry_policy import RetryPolicy
from connector.errors import InvalidConfiguration, ServerError, Throttled

FOUND = 2_892.0  # the Retry-After as found


class Mid:
    def random(self) -> float:
        return 0.5  # no jitter


class Script:
    """A runner answering from a list: an exception is raised, anything else returned."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def run(self, action_id: str, inputs: dict[str, Any]) -> Any:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def reconcile(self, action_id: str, inputs: dict[str, Any]) -> Any:
        return None


ACTION = SimpleNamespace(id="bitly.get_bitlink", idempotent=True, reconcile=None)


def _throttle() -> Throttled:
    return Throttled(
        "Bitly throttled the call",
        status=429,
        code="RATE_LIMIT_EXCEEDED",
        retry_after=FOUND,
        write_applied=False,
    )


def _call(
    runner: Script,
    policy: RetryPolicy,
    clock: FakeClock,
    notices: list[tuple[float, str]],
    **kw: Any,
) -> Any:
    return asyncio.run(
        call_action(
            action=ACTION,
            runner=runner,
            inputs={},
            policy=policy,
            clock=clock,
            rng=Mid(),
            where="steps.links.item[3]",
            on_wait=lambda seconds, reason: notices.append((seconds, reason)),
            **kw,
        )
    )


def test_as_found_the_long_wait_is_now_announced_as_it_starts() -> None:
    runner, clock, notices = Script(_throttle(), {"ok": 1}), FakeClock(), []
    outcome = _call(runner, RetryPolicy(), clock, notices)
    assert outcome.output == {"ok": 1}
    assert clock.sleeps == [FOUND]  # (simulated) it still waits when nothing bounds it
    assert len(notices) == 1
    seconds, reason = notices[0]
    assert seconds == FOUND
    assert reason == "throttled, HTTP 429, RATE_LIMIT_EXCEEDED, the server asked for 2,892 s"
    assert outcome.attempts[0]["wait"] == FOUND


def test_short_waits_are_not_announced() -> None:
    short = Throttled("slow", status=429, retry_after=LONG_WAIT - 1, write_applied=False)
    runner, clock, notices = Script(short, {"ok": 1}), FakeClock(), []
    assert _call(runner, RetryPolicy(), clock, notices).output == {"ok": 1}
    assert notices == []


@pytest.mark.parametrize(
    ("policy", "cap"),
    [(RetryPolicy(max_wait=60), None), (RetryPolicy(), 60.0), (RetryPolicy(max_wait=600), 60.0)],
    ids=["workflow-max_wait", "cli-max-wait", "tighter-wins"],
)
def test_a_wait_past_max_wait_fails_the_item_as_throttled_without_waiting(
    policy: RetryPolicy, cap: float | None
) -> None:
    runner, clock, notices = Script(_throttle(), {"ok": 1}), FakeClock(), []
    outcome = _call(runner, policy, clock, notices, max_wait=cap)
    assert isinstance(outcome.error, Throttled)
    message = str(outcome.error)
    assert message.startswith("steps.links.item[3]: a retry would wait 2,892 s")
    assert "longer than the 60 s this run accepts (max_wait)" in message
    assert outcome.error.write_applied is False and outcome.error.retry_after == FOUND
    assert clock.sleeps == [] and notices == [] and runner.calls == 1
    assert outcome.attempts[0]["refused_wait"] == FOUND


def test_a_long_wait_of_a_write_whose_fate_is_unknown_reconciles_before_stopping() -> None:
    action = SimpleNamespace(id="shorten_dev.create_link", idempotent=False, reconcile="x:y")
    lost = ServerError("gateway", status=503, retry_after=FOUND, write_applied=None)

    class Found(Script):
        async def reconcile(self, action_id: str, inputs: dict[str, Any]) -> Any:
            return {"id": "found"}

    runner, clock = Found(lost), FakeClock()
    outcome = asyncio.run(
        call_action(
            action=action, runner=runner, inputs={}, policy=RetryPolicy(max_wait=10),
            clock=clock, rng=Mid(),
        )
    )  # fmt: skip
    assert outcome.output == {"id": "found"} and outcome.error is None  # it had landed
    assert clock.sleeps == []


def test_a_paused_shared_budget_past_max_wait_fails_before_sending() -> None:
    clock = FakeClock()
    budget = RateBudget(RateLimitSpec(concurrency=5), clock=clock, name="bitly")
    budget.resume_at = clock.now() + FOUND  # another call's throttle paused the app
    runner, notices = Script({"ok": 1}), []
    outcome = _call(runner, RetryPolicy(), clock, notices, max_wait=60.0, budget=budget)
    assert isinstance(outcome.error, Throttled) and runner.calls == 0
    assert "rate budget is paused" in str(outcome.error)


def test_line_progress_prints_the_wait_with_its_reason() -> None:
    stream = io.StringIO()
    LineProgress(stream).waiting("steps.links.item[3]", FOUND, "throttled, HTTP 429")
    line = stream.getvalue()
    assert line == (
        "steps.links.item[3]: waiting 2,892 s (48 min) before retrying: throttled, HTTP 429"
        " (retry.max_wait or --max-wait sets the longest wait accepted)\n"
    )


@pytest.mark.parametrize(
    "field", ["initial_delay", "max_delay", "multiplier", "jitter", "max_wait"]
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e300])
def test_non_finite_or_absurd_numbers_are_refused(field: str, value: float) -> None:
    # initial_delay: .nan made every wait max_delay (NaN passes every comparison)
    with pytest.raises(InvalidConfiguration, match=f"{field} must be a finite number"):
        RetryPolicy.from_dict({field: value})


def test_max_wait_is_accepted_by_the_workflow_schema_and_kept() -> None:
    from connector.engine.workflow import _schema_errors

    doc = {
        "name": "w",
        "retry": {"max_wait": 120},
        "steps": [{"id": "a", "action": "bitly.get_user", "inputs": {}}],
    }
    assert _schema_errors(doc) == []
    assert RetryPolicy.from_dict(doc["retry"]).to_dict()["max_wait"] == 120
    bad = _schema_errors({**doc, "retry": {"max_wait": -1}})
    assert [e.field for e in bad] == ["retry.max_wait"]


def test_json_mode_prints_no_progress_but_still_announces_a_long_wait() -> None:
    from connector.engine.progress import for_stream

    stream = io.StringIO()
    quiet = for_stream(stream, quiet=True)
    quiet.step_started("s", "action")
    quiet.step_finished("s", "succeeded")
    assert stream.getvalue() == ""
    quiet.waiting("steps.s", FOUND, "throttled")
    assert stream.getvalue().startswith("steps.s: waiting 2,892 s (48 min) before retrying")


def test_as_found_through_the_cli_max_wait_stops_an_hour_long_retry_after(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sandbox allows one call an hour and answers the second with Retry-After 3,590 s:
    with --max-wait 60 the run fails at once, saying why, instead of waiting an hour."""
    from connector.cli import main
    from connector.sandbox import shorten_dev
    from connector.sandbox.config import SandboxConfig
    from connector.sandbox.controls import Controls, Limits
    from connector.sandbox.server import BackgroundServer

    key = "sk_long_wait_0123456789"
    hour_start = 1_767_225_600.0
    app = shorten_dev.create_app(
        SandboxConfig(
            seed=1,
            tokens={key: frozenset({"read", "write"})},
            controls=Controls(limits=Limits(per_hour=1)),
            now=lambda: hour_start + 10,
        )
    )
    workflow = tmp_path / "two.yaml"
    workflow.write_text(
        "name: two\nretry: {max_attempts: 5}\nsteps:\n"
        "  - {id: first, action: shorten_dev.list_links, inputs: {limit: 1}}\n"
        "  - {id: second, action: shorten_dev.list_links, inputs: {limit: 1}}\n"
    )
    with BackgroundServer(app) as server:
        monkeypatch.setenv("SHORTEN_API_KEY", key)
        monkeypatch.setenv("SHORTEN_API_URL", server.url + "/api/v1")
        argv = ["run", str(workflow), "--home", str(tmp_path / "home"), "--max-wait", "60"]
        code = main(argv)
    out, _ = capsys.readouterr()
    assert code == 1, out
    assert "failed step: second" in out
    assert "a retry would wait 3,590 s" in out and "longer than the 60 s this run accepts" in out
