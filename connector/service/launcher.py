"""Runs in the background: each on its own engine session (the one the CLI uses), answered
as soon as its run row exists, so a client gets the run id at once and reads progress from
the run log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from connector.engine.attempts import error_dict
from connector.engine.executor import Engine, RunResult
from connector.engine.runlog import RunLog
from connector.engine.session import engine_session
from connector.redact import redact
from connector.service.config import ServiceConfig

__all__ = ["Claim", "Job", "RunLauncher"]

log = logging.getLogger("connector.service")

Job = Callable[[Engine], Awaitable[RunResult]]


#: called in the transaction that creates a run's row (a trigger event's claim); raising
#: rolls the row back, so the run and what it claims commit together or not at all
Claim = Callable[[RunLog, str], None]


class _AnnouncingRunLog(RunLog):
    """A run log that tells the launcher the id of the run its engine creates."""

    def __init__(self, path: Any, announce: Callable[[str], None], claim: Claim | None) -> None:
        super().__init__(path)
        self._announce = announce
        self._claim = claim

    def create_run(self, *args: Any, **kwargs: Any) -> str:
        if self._claim is None or kwargs.get("parent_run_id") is not None:
            run_id: str = super().create_run(*args, **kwargs)
        else:
            with self.store.transaction():
                run_id = super().create_run(*args, **kwargs)
                self._claim(self, run_id)
        self._announce(run_id)
        return run_id


class RunLauncher:
    def __init__(self, config: ServiceConfig, catalog: Any) -> None:
        self.config = config
        self.catalog = catalog
        self._tasks: set[asyncio.Task[None]] = set()
        #: run id -> the engine running it, while it runs (for cancel)
        self._running: dict[str, Engine] = {}

    async def start(
        self,
        job: Job,
        credentials: dict[str, str] | None = None,
        *,
        claim: Claim | None = None,
    ) -> str:
        """Start `job` on a fresh engine (with `credentials`, default the service's); return
        its run's id once the row is written.

        An error raised before the run exists (a retry refused, a claim taken) is raised
        here."""
        announced: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if credentials is None:
            credentials = self.config.credentials
        task = asyncio.create_task(self._run(job, announced, credentials, claim))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        waiting: set[asyncio.Future[Any]] = {announced, task}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if announced.done():
            return announced.result()
        task.result()  # raises what stopped the job before its run existed
        raise RuntimeError("the run ended without a run id")  # pragma: no cover

    def cancel(self, run_id: str) -> bool:
        """Ask the run to stop between items; False when this process is not running it."""
        engine = self._running.get(run_id)
        if engine is None:
            return False
        engine.cancel(run_id)
        return True

    async def _run(
        self,
        job: Job,
        announced: asyncio.Future[str],
        credentials: dict[str, str] | None,
        claim: Claim | None,
    ) -> None:
        engines: list[Engine] = []

        def announce(run_id: str) -> None:
            if engines:
                self._running[run_id] = engines[0]
            if not announced.done():
                announced.set_result(run_id)

        runlog = _AnnouncingRunLog(self.config.runlog_target, announce, claim)
        try:
            async with engine_session(
                self.catalog,
                runlog,
                base_urls=self.config.base_urls,
                credentials=credentials,
                clock=self.config.clock,
            ) as engine:
                engines.append(engine)
                await job(engine)
        except Exception as exc:
            if not announced.done():
                raise  # the caller answers it
            # The engine records a run's failures itself: this is a bug. The client already
            # has the run id; the run is closed as failed (not left "running" while this
            # process lives), and the log says why.
            log.error("background run failed: %s: %s", type(exc).__name__, redact(str(exc)))
            runlog.finish_run(
                announced.result(), status="failed", finished_at=time.time(), error=error_dict(exc)
            )
        finally:
            if announced.done() and not announced.cancelled():
                self._running.pop(announced.result(), None)
            runlog.close()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait for every background run to end (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
