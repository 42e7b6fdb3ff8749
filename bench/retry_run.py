"""`connector runs retry` of a 10,000-item run with 10 failed items, against a fresh
`connector run` of those 10 items: a retry should cost about what it re-runs.

Setup (not timed): the engine runs the loop workflow over 10,000 items (the demo bitlinks,
repeated) against the embedded sandboxes, as `connector run --sandbox` would, with a transport
that answers 503 to 10 of the items and a workflow retry policy of one attempt: the run fails
with 9,990 items succeeded and 10 failed, all written by the real engine and run log.
Timed, alternating, `--rounds` times each (whole processes, as a user runs them):
  - retry: `connector runs retry RUN --sandbox --home H` (a copy of the run log per round,
    so every round retries the same failed run);
  - fresh: `connector run WORKFLOW --sandbox --trigger @TEN --home H2` over the 10 items.
Both start the embedded sandboxes and load the catalog; the difference is what the retry
does with the 9,990 items it reuses. The verdict is the median of the per-round wall-time
ratios (target: under 1.5); CPU time (user + system of the child, from `os.wait4`) is shown
beside it, being the steadier figure on a shared machine. Run:

    .venv/bin/python bench/retry_run.py [--items 10000] [--failed 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ACTION, QUERY, connector_process, machine

from connector.catalog import load_catalog
from connector.engine.rate_budget import RateLimitSpec
from connector.engine.session import engine_session
from connector.engine.workflow import validate_workflow
from connector.sandbox.controls import Controls
from connector.sandbox.embedded import embedded_sandboxes

TARGET = 1.5


def workflow(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "retry": {"max_attempts": 1},
        "steps": [
            {
                "id": "metrics",
                "loop": {
                    "over": "{{ trigger.links }}",
                    "batch_size": 5,
                    "on_item_error": "continue",
                },
                "action": ACTION,
                "inputs": {"bitlink": "{{ item }}", **QUERY},
            }
        ],
    }


class FailSome(httpx.AsyncBaseTransport):
    """Answers 503 to requests for the `failing` bitlinks; the rest go to the sandbox."""

    def __init__(self, failing: set[str]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.failing = {f"/bitlinks/{link}/" for link in failing}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if any(link in path for link in self.failing):
            return httpx.Response(503, json={"message": "INJECTED", "description": "bench"})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def failed_parent(home: Path, items: int, failed: int) -> tuple[str, list[str]]:
    """Run the loop once with `failed` items answered 503; returns (run id, their links).

    The failing items are demo links no other item uses, spread over the run."""
    catalog = load_catalog()
    # No limits in the sandbox: the embedded Bitly sandbox enforces a basic account's 100 a
    # minute by default, which 10,000 unpaced items would meet as throttled answers.
    with embedded_sandboxes(controls=Controls()) as boxes:
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{boxes.base_urls['bitly']}/groups/Bdemo000001/bitlinks",
                params={"size": 100},
                headers={"Authorization": f"Bearer {boxes.credentials['bitly']}"},
            )
            demo = [link["id"] for link in response.json()["links"]]
        if len(demo) <= failed:
            raise SystemExit(f"the demo group has {len(demo)} links; --failed must be fewer")
        failing, others = demo[:failed], demo[failed:]
        links = [others[i % len(others)] for i in range(items - failed)]
        step = max(1, len(links) // (failed + 1))
        for n, link in enumerate(failing):
            links.insert((n + 1) * step, link)
        async with engine_session(
            catalog,
            home / "runs.db",
            base_urls=dict(boxes.base_urls),
            credentials=dict(boxes.credentials),
            transport=FailSome(set(failing)),
            overrides={"bitly": RateLimitSpec(concurrency=5)},
        ) as engine:
            wf = validate_workflow(workflow("retry bench"), catalog)
            result = await engine.run(wf, {"links": links})
    if result.ok or (result.error or {}).get("loop", "").split(" ")[0] != str(failed):
        raise SystemExit(f"the parent run should fail {failed} items: {result.error}")
    return result.run_id, failing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--failed", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        parent_home = root / "parent"
        parent_home.mkdir()
        t0 = time.perf_counter()
        run_id, failing = asyncio.run(failed_parent(parent_home, args.items, args.failed))
        print(f"parent run {run_id}: {args.items} items, {len(failing)} failed"
              f" ({time.perf_counter() - t0:.1f} s to make)")  # fmt: skip
        wf = root / "ten.json"
        wf.write_text(json.dumps(workflow("fresh bench")))
        trigger = root / "trigger.json"
        trigger.write_text(json.dumps({"links": failing}))
        env = {**os.environ}
        rows: list[tuple[float, float, float, float]] = []
        print(f"{'round':>5} {'retry wall':>11} {'fresh wall':>11} {'ratio':>6}"
              f" {'retry cpu':>10} {'fresh cpu':>10} {'ratio':>6}")  # fmt: skip
        for n in range(1, args.rounds + 1):
            home = root / f"retry-{n}"
            shutil.copytree(parent_home, home)
            r_wall, r_cpu, out = connector_process(
                ["runs", "retry", run_id, "--sandbox", "--home", str(home)], env
            )
            if ": succeeded" not in out:
                raise SystemExit(f"the retry did not succeed:\n{out[-2000:]}")
            fresh_home = root / f"fresh-{n}"
            f_wall, f_cpu, out = connector_process(
                [
                    "run",
                    str(wf),
                    "--sandbox",
                    "--trigger",
                    f"@{trigger}",
                    "--home",
                    str(fresh_home),
                ],
                env,
            )
            rows.append((r_wall, f_wall, r_cpu, f_cpu))
            print(f"{n:>5} {r_wall:>11.3f} {f_wall:>11.3f} {r_wall / f_wall:>6.2f}"
                  f" {r_cpu:>10.3f} {f_cpu:>10.3f} {r_cpu / f_cpu:>6.2f}")  # fmt: skip
        wall = statistics.median(r[0] / r[1] for r in rows)
        cpu = statistics.median(r[2] / r[3] for r in rows)
        verdict = wall < TARGET
        print(f"median ratio: wall {wall:.2f}, cpu {cpu:.2f}; target wall < {TARGET}:"
              f" {'PASS' if verdict else 'FAIL'}")  # fmt: skip
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
