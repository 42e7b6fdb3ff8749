"""Background runs: the id comes back once the run row exists; an error before that is the
caller's; a bug after it closes the run as failed instead of leaving it "running"."""

from __future__ import annotations

import asyncio

import pytest

from connector.engine.executor import Engine, RunResult
from connector.engine.runlog import DB_NAME, RunLog
from connector.errors import InvalidConfiguration
from connector.service import ServiceConfig, create_app


def _new_run(engine: Engine) -> str:
    return engine.runlog.create_run(
        workflow={"name": "probe"},
        trigger=None,
        source_path=None,
        parent_run_id=None,
        started_at=0.0,
    )


def test_errors_before_and_after_the_run_exists(config: ServiceConfig) -> None:
    launcher = create_app(config).state.service.launcher

    async def refused(engine: Engine) -> RunResult:
        raise InvalidConfiguration("not now")

    async def buggy(engine: Engine) -> RunResult:
        _new_run(engine)
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    async def go() -> str:
        with pytest.raises(InvalidConfiguration, match="not now"):
            await launcher.start(refused)
        run_id = await launcher.start(buggy)
        await launcher.wait_idle()
        return run_id

    run_id = asyncio.run(go())
    with RunLog(config.home / DB_NAME) as log:
        run = log.get_run(run_id)
        assert run.status == "failed" and "boom" in (run.error or {})["message"]
        assert [r.id for r in log.list_runs()] == [run_id]
