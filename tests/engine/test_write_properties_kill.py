"""Property, with kill -9: `connector run` and `connector runs retry` as subprocesses killed
with SIGKILL at drawn moments, between lost writes, retries and two retries at once, still
leave exactly one link per intended item, and the run log's account agrees (issue 7)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .shorten_box import ShortenBox, cli, create_workflow, few_examples, intents, popen, read

pytestmark = pytest.mark.slow

_names = itertools.count()
RETRY = {"max_attempts": 2, "initial_delay": 0.002, "max_delay": 0.005}


@pytest.fixture(scope="module")
def box() -> Iterator[ShortenBox]:
    with ShortenBox() as started:
        yield started


def _leaf(db: Path) -> str | None:
    """The newest run of the (one) lineage in the log."""
    rows = read(db, "SELECT id, parent_run_id FROM runs")
    if not rows:
        return None
    children = {parent: run for run, parent in rows if parent}
    run = next(run for run, parent in rows if parent is None)
    while run in children:
        run = children[run]
    return str(run)


def _status(db: Path, run_id: str) -> str:
    ((status,),) = read(db, "SELECT status FROM runs WHERE id=?", (run_id,))
    return str(status)


def _kill_when_writing(proc: subprocess.Popen[str], db: Path, after: int, known: set[str]) -> None:
    """SIGKILL once a run not in `known` has `after` writes recorded, one still pending."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                rows = read(db, "SELECT run_id, state FROM intents")
            except AssertionError:
                rows = []
            mine = [state for run, state in rows if run not in known]
            if len(mine) >= after and "pending" in mine:
                os.kill(proc.pid, signal.SIGKILL)
                break
        time.sleep(0.003)
    proc.wait(timeout=60)
    proc.communicate()


@few_examples
@given(
    bulk=st.booleans(),
    n=st.integers(3, 5),
    kill_after=st.integers(1, 2),
    lost=st.sampled_from([0.0, 0.4]),
    seed=st.integers(0, 1000),
    then=st.lists(st.sampled_from(["retry", "two_at_once", "kill"]), max_size=2),
)
def test_kill_9_between_lost_writes_and_retries_leaves_one_link_per_item(
    box: ShortenBox,
    tmp_path_factory: Any,
    bulk: bool,
    n: int,
    kill_after: int,
    lost: float,
    seed: int,
    then: list[str],
) -> None:
    tag = f"https://kill.example/k{next(_names)}/"
    home = tmp_path_factory.mktemp("home")
    db = home / "runs.db"
    if bulk:  # each item a batch of two links, one with a slug of its own
        items: list[Any] = [
            [{"destination_url": f"{tag}{i}a"},
             {"destination_url": f"{tag}{i}b", "custom_slug": f"{tag.split('/')[3]}-{i}"}]
            for i in range(n)
        ]  # fmt: skip
        wanted = [link["destination_url"] for batch in items for link in batch]
        wf = create_workflow(
            home / "wf.yaml", retry=RETRY, action="shorten_dev.bulk_create_links",
            inputs={"links": "{{ item }}"},
        )  # fmt: skip
    else:
        items = wanted = [f"{tag}{i}" for i in range(n)]
        wf = create_workflow(home / "wf.yaml", retry=RETRY)
    box.set_faults(lost_write_rate=lost, seed=seed, latency_ms=60)
    trigger = json.dumps({"urls": items})
    home_args = ("--home", str(home))

    _kill_when_writing(popen("run", str(wf), "--trigger", trigger, *home_args, env=box.env),
                       db, kill_after, set())  # fmt: skip
    for step in then:
        leaf = _leaf(db)
        assert leaf is not None
        if _status(db, leaf) == "succeeded":
            break
        known = {run for (run,) in read(db, "SELECT id FROM runs")}
        if step == "kill":
            proc = popen("runs", "retry", leaf, *home_args, env=box.env)
            _kill_when_writing(proc, db, 1, known)
            continue
        procs = [popen("runs", "retry", leaf, *home_args, env=box.env)
                 for _ in range(2 if step == "two_at_once" else 1)]  # fmt: skip
        codes = sorted(p.wait(timeout=120) for p in procs)
        for p in procs:
            p.communicate()
        assert codes in ([0], [1], [0, 1], [1, 1]), codes  # one ran; a twin was refused
        assert len(read(db, "SELECT id FROM runs WHERE parent_run_id=?", (leaf,))) == 1

    box.set_faults()
    for _ in range(3):
        leaf = _leaf(db)
        assert leaf is not None
        if _status(db, leaf) == "succeeded":
            break
        done = cli("runs", "retry", leaf, *home_args, env=box.env)
        assert done.returncode in (0, 1), done.stderr
    leaf = _leaf(db)
    assert leaf is not None and _status(db, leaf) == "succeeded"

    links = box.links(tag)
    assert Counter(dest for _, dest, _ in links) == Counter(wanted), links
    slug_of = {dest: slug for slug, dest, _ in links}
    writes = intents(db)
    assert sorted(writes) == list(range(n))
    for idx, (state, output) in writes.items():
        assert state == "applied", (idx, state)
        made = output["data"] if bulk else [output]
        got = {m["link"]["destination_url"]: m["link"]["slug"] for m in made}
        mine = [link["destination_url"] for link in items[idx]] if bulk else [items[idx]]
        assert got == {url: slug_of[url] for url in mine}
