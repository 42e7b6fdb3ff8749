"""Four processes hammering one shared budget (25 requests a second) through a real
PostgreSQL at the same instant: no window ever holds more than its limit, and the windows
are used whole, in fixed and in sliding counting."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

HAMMER = Path(__file__).with_name("shared_budget_hammer.py")
PROCESSES = 4
EACH = 40
PER_SECOND = 25
MARGIN = 0.01  # rate_windows.margin_for(1.0)


def _hammer(url: str, windows: str, tmp_path: Path) -> list[dict[str, Any]]:
    start = time.time() + 3.0  # every process connected and waiting by then
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    outs = [tmp_path / f"{windows}{i}.json" for i in range(PROCESSES)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(HAMMER), url, str(start), str(EACH), windows, str(out)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    return [json.loads(out.read_text()) for out in outs]


def test_fixed_windows_never_hold_more_than_their_limit(pg_server: Any, tmp_path: Path) -> None:
    results = _hammer(pg_server.database_url(), "fixed", tmp_path)
    granted = sorted(t for r in results for t in r["granted"])
    assert len(granted) == PROCESSES * EACH
    # Each grant is counted in every window within its margin: none holds more than 25.
    counted: Counter[int] = Counter()
    for t in granted:
        for index in range(math.floor(t - MARGIN), math.floor(t + MARGIN) + 1):
            counted[index] += 1
    assert max(counted.values()) == PER_SECOND
    # Whole windows: between the first and the last, each second holds its 25.
    by_second = Counter(math.floor(t) for t in granted)
    seconds = sorted(by_second)
    inner = [by_second[s] for s in seconds[1:-1]]
    assert inner and all(n >= PER_SECOND - 1 for n in inner), by_second
    # Reservations waiting in a process go together: fewer transactions than requests.
    assert sum(r["transactions"] for r in results) < PROCESSES * EACH


def test_sliding_windows_never_hold_more_than_their_limit(pg_server: Any, tmp_path: Path) -> None:
    results = _hammer(pg_server.database_url(), "sliding", tmp_path)
    granted = sorted(t for r in results for t in r["granted"])
    assert len(granted) == PROCESSES * EACH
    # Request k + 25 goes a window (and both margins) after request k, never sooner.
    gaps = [granted[k + PER_SECOND] - granted[k] for k in range(len(granted) - PER_SECOND)]
    assert min(gaps) >= 1.0 + 2 * MARGIN - 1e-6
    # ... and no later than the window allows: the 160 take 6 windows and a bit.
    assert granted[-1] - granted[0] <= 6 * (1.0 + 2 * MARGIN) + 0.5
