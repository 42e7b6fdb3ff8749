"""Run step 0 of run RUN (its row already in the run log DB) as a Temporal worker's engine
does, its calls' attempts journaled, against APP's API at URL (shorten.dev unless named):
the process a test kills with SIGKILL mid-retry (tests/engine/test_attempts_survive_kill.py,
test_composite_tries_survive_kill.py). DB is a SQLite file or a PostgreSQL URL.

    python journaled_step.py DB RUN URL KEY [APP]
"""

from __future__ import annotations

import asyncio
import sys

from connector.catalog import load_catalog
from connector.engine.attempt_journal import AttemptJournal
from connector.engine.session import engine_session
from connector.engine.workflow import ActionStep, validate_workflow


async def run_step(db: str, run_id: str, url: str, key: str, app: str = "shorten_dev") -> None:
    catalog = load_catalog()
    async with engine_session(catalog, db, base_urls={app: url}, credentials={app: key}) as engine:
        engine.journal = AttemptJournal(engine.runlog)
        workflow = validate_workflow(engine.runlog.get_run(run_id).workflow, catalog)
        step = workflow.steps[0]
        assert isinstance(step, ActionStep)
        engine.bind_run(run_id, workflow, run_id)
        await engine.run_step(run_id, 0, step, {"trigger": None, "steps": {}}, None)


if __name__ == "__main__":
    asyncio.run(run_step(*sys.argv[1:6]))
