"""`connector run examples/link_clicks.yaml --trigger @rows.json` of a builder's export past
every other document's bound (4 MiB), end to end from the command line: the file read and
checked, the loop run, its items in the run log, the peak memory of that process bounded.

The big run answers every request in process (bench/cli_echo.py: each action's output
sample), as bench/engine_memory.py --echo does: 130,000 requests to a sandbox would take
the suite minutes. The example itself runs against the embedded sandbox below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.catalog import load_catalog
from connector.engine.runlog import RunLog
from connector.safe_load import MAX_BYTES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "link_clicks.yaml"
#: peak RSS of the engine's process (issue 12: a 1,000,000-item loop under 200 MB)
LIMIT_MIB = 200


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BITLY_", "SHORTEN_"))}
    env.pop("CONNECTOR_RUNLOG", None)
    env.update(CONNECTOR_HOME=str(home), PYTHONPATH=str(ROOT), **extra)
    return env


def export(path: Path, bitlinks: list[str]) -> Path:
    """The trigger file a builder platform writes: its rows, one a line."""
    path.write_text(json.dumps({"bitlinks": bitlinks, "days": 7}, indent=4))
    return path


@pytest.mark.slow
def test_a_trigger_file_of_130000_rows_runs_from_the_cli(tmp_path: Path) -> None:
    rows = [f"https://bit.ly/{i:07x}" for i in range(130_000)]
    trigger = export(tmp_path / "rows.json", rows)
    assert trigger.stat().st_size > MAX_BYTES  # refused before trigger files had their bound
    peak_file = tmp_path / "peak"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cli_echo.py"), "run", str(EXAMPLE),
         "--trigger", f"@{trigger}", "--json"],
        cwd=tmp_path, env=_env(tmp_path / "home", BENCH_PEAK_FILE=str(peak_file)),
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    sample = load_catalog().get("bitly.get_link_click_metrics").output_sample
    assert result["status"] == "succeeded"
    assert result["output"]["summary"] == {
        "total": 130_000, "succeeded": 130_000, "failed": 0, "skipped": 0,
    }  # fmt: skip
    assert result["output"]["links"] == 130_000
    assert result["output"]["total_clicks"] == 130_000 * sample["total_clicks"]
    peak_mib = int(peak_file.read_text()) / 1024
    assert peak_mib < LIMIT_MIB, f"peak RSS {peak_mib:.0f} MiB"
    with RunLog(tmp_path / "home" / "runs.db", readonly=True) as log:
        run = log.get_run(result["run_id"])
        assert run.trigger == {"bitlinks": rows, "days": 7}  # stored whole, once
        page = log.store.execute(
            "SELECT count(*), min(idx), max(idx) FROM loop_items WHERE run_id=? AND step_id=?",
            (result["run_id"], "clicks"),
        ).fetchone()
    assert tuple(page) == (130_000, 0, 129_999)


def test_the_example_runs_on_the_embedded_sandbox_from_a_trigger_file(tmp_path: Path) -> None:
    links = ["bit.ly/spring-sale", "bit.ly/docs-start"] * 10
    trigger = export(tmp_path / "rows.json", links)
    done = subprocess.run(
        [sys.executable, "-m", "connector", "run", str(EXAMPLE), "--sandbox",
         "--trigger", f"@{trigger}", "--json"],
        cwd=ROOT, env=_env(tmp_path / "home"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    output = json.loads(done.stdout)["output"]
    assert output["summary"] == {"total": 20, "succeeded": 20, "failed": 0, "skipped": 0}
    assert output["links"] == 20
    assert len(output["top_links"]) == 5
    assert {t["bitlink"] for t in output["top_links"]} <= set(links)
