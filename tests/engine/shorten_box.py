"""The shorten.dev sandbox on loopback for CLI tests of duplicate writes, and readers of
what it holds and what the run log says, so a test compares the store with the log."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, settings

from connector.sandbox import shorten_dev
from connector.sandbox.config import DEMO_SHORTEN_KEY, SandboxConfig
from connector.sandbox.controls import Controls, Faults
from connector.sandbox.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[2]
FAST_RETRY = {"max_attempts": 5, "initial_delay": 0.005, "multiplier": 2, "max_delay": 0.02}


class ShortenBox:
    """The sandbox with no seed data, every fault settable while it runs."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.controls = Controls(faults=faults or Faults())
        self.app = shorten_dev.create_app(
            SandboxConfig(seed=None, controls=self.controls), creation_limit_per_hour=1_000_000
        )
        self.server = BackgroundServer(self.app)

    def __enter__(self) -> ShortenBox:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def set_faults(self, **faults: Any) -> None:
        self.controls.faults = Faults(**faults)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BITLY_", "SHORTEN_"))}
        env.pop("CONNECTOR_HOME", None)
        env.update(
            SHORTEN_API_URL=self.server.url + "/api/v1",
            SHORTEN_API_KEY=DEMO_SHORTEN_KEY,
            PYTHONUNBUFFERED="1",
        )
        return env

    def links(self, prefix: str) -> list[tuple[str, str, str]]:
        return stored_links(self.app, prefix)

    def per_destination(self, prefix: str) -> Counter[str]:
        return Counter(dest for _, dest, _ in self.links(prefix))

    def count(self, key: str) -> int:
        return int(self.app.state.counts.get(key, 0))


def stored_links(app: Any, prefix: str) -> list[tuple[str, str, str]]:
    """(slug, destination, status) of every link in a shorten.dev sandbox app whose
    destination starts with `prefix`."""
    store = app.state.store
    with store.lock:
        rows = store.conn.execute(
            "SELECT slug, destination_url, status FROM links WHERE destination_url LIKE ?",
            (prefix + "%",),
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


#: hypothesis settings of the duplicate-write properties: a few fixed examples, no database
few_examples = settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def create_workflow(
    path: Path,
    *,
    retry: dict[str, Any] | None = None,
    batch: int = 1,
    action: str = "shorten_dev.create_link",
    inputs: dict[str, Any] | None = None,
) -> Path:
    """A loop of creates over `trigger.urls` (or whatever `inputs` make of each item)."""
    doc = {
        "name": "one link per URL",
        "retry": retry or FAST_RETRY,
        "steps": [
            {
                "id": "each",
                "loop": {
                    "over": "{{ trigger.urls }}",
                    "batch_size": batch,
                    "on_item_error": "continue",
                },
                "action": action,
                "inputs": inputs or {"destination_url": "{{ item }}"},
            }
        ],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def urls(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the run log as another process would, tolerating a schema still being made."""
    for _ in range(50):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
                return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            time.sleep(0.02)
    raise AssertionError(f"cannot read {db}")


def intents(db: Path) -> dict[int, tuple[str, Any]]:
    """Loop index -> (state, output) of every write intent in the log."""
    rows = read(db, "SELECT idx, state, output_json FROM intents WHERE step_id='each'")
    return {idx: (state, None if out is None else json.loads(out)) for idx, state, out in rows}


def assert_log_agrees_with_store(box: ShortenBox, db: Path, prefix: str, wanted: list[str]) -> None:
    """Exactly one link per intended URL, and the run log says so for each: its write is
    applied and its recorded output is that very link."""
    links = box.links(prefix)
    assert Counter(dest for _, dest, _ in links) == Counter(wanted), links
    slug_of = {dest: slug for slug, dest, _ in links}
    writes = intents(db)
    assert sorted(writes) == list(range(len(wanted)))
    for idx, url in enumerate(wanted):
        state, output = writes[idx]
        assert state == "applied", (idx, state)
        if output is not None:  # None only where a user resolved it as applied
            assert output["link"]["slug"] == slug_of[url], (idx, output)
