"""What journaling a composite's own request tries costs a Temporal worker
(engine/request_journal.py).

A worker's engine journals each try of a composite's requests before it is sent (and each
failure with its wait), so that a call cut off with its worker goes on with each request's
count elsewhere; the embedded engine writes none. Timed here: one Shorten Many URLs call of
--urls distinct URLs through the real engine, runner and handler, against an API that
answers at once (an httpx mock transport), without the journal and with it, on a SQLite
file and on PostgreSQL (pgserver, loopback). Rounds alternate; the verdict is the median
of the per-round differences, in microseconds of CPU and wall time per request (one try
each, in an activity's first execution: the usual case). Run:

    .venv/bin/python bench/composite_journal.py [--urls 300] [--rounds 5] [--no-postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine
from attempt_journal import compare, on_each_log

from connector.catalog import load_catalog
from connector.engine.attempt_journal import RESUMING, AttemptJournal
from connector.engine.rate_limits import RateLimitSpec
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow

CATALOG = load_catalog()


def _answer(request: httpx.Request) -> httpx.Response:
    url = json.loads(request.content)["long_url"]
    slug = url.rsplit("/", 1)[-1]
    return httpx.Response(200, json={"id": f"bit.ly/{slug}", "link": f"https://bit.ly/{slug}"})


def per_request(target: Path | str, urls: int, journal: bool) -> tuple[float, float]:
    """CPU and wall microseconds per request of one Shorten Many call of `urls` URLs."""
    doc = {
        "name": "many",
        "steps": [
            {
                "id": "many",
                "action": "bitly.shorten_many_urls",
                "inputs": {"urls": [f"https://example.com/bench/{i:06d}" for i in range(urls)]},
            }
        ],
    }
    workflow = validate_workflow(doc, CATALOG)

    async def go() -> tuple[float, float]:
        RESUMING.set(False)  # a first execution, the usual case: nothing to read back
        async with engine_session(
            CATALOG,
            target,
            base_urls={"bitly": "http://bitly.test/v4"},
            credentials={"bitly": "bench-token-000000"},
            transport=httpx.MockTransport(_answer),
            overrides={"bitly": RateLimitSpec(concurrency=5, learn=False)},
            env={},
        ) as engine:
            if journal:
                engine.journal = AttemptJournal(engine.runlog)
            cpu, wall = time.process_time(), time.perf_counter()
            result = await engine.run(workflow, {})
            spent = time.process_time() - cpu, time.perf_counter() - wall
            assert result.ok and result.output["succeeded"] == urls, result.error
            return spent[0] / urls * 1e6, spent[1] / urls * 1e6

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    print(machine())

    def body(name: str, make_target: Any) -> None:
        compare(name, make_target, args.urls, args.rounds, measure=per_request, per="request")

    on_each_log(body, args)


if __name__ == "__main__":
    main()
