"""`tests/temporal/limitless_worker.py` with each loop item's first attempt journaled on its
own, one round trip per item, as before `connector.temporal.items.FirstAttempts`: the
"before" of bench/temporal_workers.py, measured in the same run as the "after". Same
arguments as `connector worker`."""

from __future__ import annotations

import runpy
from pathlib import Path

from connector.temporal import items

WORKER = Path(__file__).resolve().parents[1] / "tests" / "temporal" / "limitless_worker.py"

if __name__ == "__main__":
    items.JOURNAL_AHEAD = False
    runpy.run_path(str(WORKER), run_name="__main__")
