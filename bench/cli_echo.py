"""`connector ARGS` with in-process answers: the command line as a user runs it (the
workflow and trigger files read and checked, the engine, templates, the loop, the SQLite
run log, the output printed), but every action answered by a fresh copy (decoded from
JSON) of its manifest's output sample instead of an HTTP request. A loop of a million items
then takes minutes, not the hours a million requests take. With $BENCH_PEAK_FILE set, the
process writes its peak RSS (VmHWM, KiB) there as it exits. Run:

    .venv/bin/python bench/cli_echo.py run examples/link_clicks.yaml --trigger @links.json
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from typing import Any

from connector.catalog import load_catalog
from connector.cli import main
from connector.runner import ActionRunner


def _write_peak() -> None:
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(kib)


def answer_with_samples() -> None:
    """Replace ActionRunner.run: each action answers with its output sample."""
    catalog = load_catalog()
    texts = {action_id: json.dumps(catalog.get(action_id).output_sample)
             for action_id in catalog.actions}  # fmt: skip

    async def run(self: ActionRunner, action_id: str, prepared_inputs: dict[str, Any]) -> Any:
        return json.loads(texts[action_id])

    ActionRunner.run = run  # type: ignore[method-assign]


if __name__ == "__main__":
    if os.environ.get("BENCH_PEAK_FILE"):
        atexit.register(_write_peak)
    answer_with_samples()
    sys.exit(main(sys.argv[1:]))
