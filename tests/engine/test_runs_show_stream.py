"""`runs show --json` streams: one valid JSON document, the same as building the whole
document first would give, written in memory that does not grow with the item count; the
text view and the Python API page through a loop's items by cursor."""

from __future__ import annotations

import argparse
import io
import json
import re
import tracemalloc
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from connector.api import run_items
from connector.cli.json_stream import WRITE_SIZE, RawArray, RawJSON, write_json
from connector.cli.runs_show import run_document, show
from connector.engine.loop_items import LoopItems
from connector.engine.runlog import ItemRecord, RunLog
from connector.errors import InvalidConfiguration, InvalidInput
from connector.lazy_array import PAGE
from connector.redact import MASK, forget_secrets, register_secret


def _loop_run(
    log: RunLog, n: int, *, failed: frozenset[int] = frozenset(), prefix: str = "k"
) -> str:
    """A finished run of one loop step over `n` items, written as the engine writes it."""
    run_id = log.create_run(
        workflow={"name": "w", "steps": []}, trigger={"n": n}, source_path=None,
        parent_run_id=None, started_at=1.0,
    )  # fmt: skip
    for start in range(0, n, PAGE):
        records = []
        for i in range(start, min(n, start + PAGE)):
            ok, key = i not in failed, f"{prefix}{i}"
            records.append(
                ItemRecord("each", i, "succeeded" if ok else "failed", key, {"key": key},
                           {"i": i, "pad": "y" * 100} if ok else None,
                           None if ok else {"message": "no", "kind": "quota_exhausted"},
                           [{"attempt": 1, "result": "ok" if ok else "error"}], 2.0, 3.0, None)
            )  # fmt: skip
        log.write_items(run_id, records)
    summary = {"total": n, "succeeded": n - len(failed), "failed": len(failed), "skipped": 0}
    output = {"items": LoopItems(log, run_id, "each", n), "summary": summary}
    log.write_step(run_id, "each", position=0, kind="loop", status="succeeded",
                   definition={"id": "each"}, output=output, summary=summary)  # fmt: skip
    log.finish_run(run_id, status="succeeded", finished_at=4.0, output=output)
    return run_id


def _args(run_id: str, **kw: Any) -> argparse.Namespace:
    return argparse.Namespace(
        run_id=run_id, json=kw.get("json", True), step=kw.get("step"),
        after=kw.get("after"), limit=kw.get("limit", 20),
    )  # fmt: skip


def _whole(log: RunLog, run_id: str) -> Any:
    """The document as `runs show --json` built it before it streamed: everything in
    memory, items decoded, dumped at once (a loop step's output null: its items are its
    records' outputs, its summary is its `summary`)."""
    run = log.get_run(run_id)
    doc = asdict(run) | {"display_status": run.display_status}
    doc["retried_as"] = log.child_of(run.id)
    doc["writes"] = []
    doc["steps"] = []
    for step in log.steps(run.id):
        entry = asdict(step)
        if step.kind == "loop":
            entry["output"] = None
            entry["items"] = [asdict(i) for i in log.items(run.id, step.step_id)]
        doc["steps"].append(entry)
    return json.loads(json.dumps(doc, default=lambda v: list(v)))


def _whole_text(log: RunLog, run_id: str) -> str:
    """`_whole` laid out as the stream lays it out: `json.dumps(indent=2)`, except that the
    trigger, each item's record and each element of a loop's items are compact JSON on
    one line (what the run log stores, copied)."""
    compact: list[str] = []

    def raw(value: Any) -> str:
        compact.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        return f"@raw{len(compact) - 1}@"

    def lists(value: Any) -> Any:
        if isinstance(value, LoopItems):
            return [raw(v) for v in value]
        if isinstance(value, dict):
            return {k: lists(v) for k, v in value.items()}
        return [lists(v) for v in value] if isinstance(value, list) else value

    doc = _whole(log, run_id)
    run = log.get_run(run_id)
    doc["trigger"] = raw(run.trigger)
    doc["output"] = lists(run.output)
    for entry in doc["steps"]:
        if entry["kind"] == "loop":
            entry["items"] = [raw(i) for i in entry["items"]]
    text = json.dumps(doc, indent=2, default=str)
    return re.sub(r'"@raw(\d+)@"', lambda m: compact[int(m.group(1))], text) + "\n"


def test_the_streamed_document_is_the_whole_document(runlog: RunLog) -> None:
    run_id = _loop_run(runlog, 2 * PAGE + 7, failed=frozenset({3, PAGE + 1}))
    out = io.StringIO()
    assert show(runlog, _args(run_id), out) == 0
    streamed = json.loads(out.getvalue())
    assert streamed == _whole(runlog, run_id)
    assert out.getvalue() == _whole_text(runlog, run_id)  # byte for byte, too
    assert len(streamed["output"]["items"]) == 2 * PAGE + 7
    assert streamed["output"]["items"][3] is None
    assert streamed["steps"][0]["items"][PAGE + 1]["error"]["kind"] == "quota_exhausted"
    assert streamed["steps"][0]["output"] is None  # not a second copy of every output
    assert streamed["steps"][0]["summary"] == streamed["output"]["summary"]


def test_stored_values_of_every_kind_are_copied_byte_for_byte(runlog: RunLog) -> None:
    """Non-ASCII text, escapes, long floats, a missing time, a reused item and an unknown
    status are written as the whole document's `json.dumps` writes them."""
    run_id = runlog.create_run(
        workflow={"name": "w ☃", "steps": []}, trigger={"links": ["é", "\u202e", 'q"\\']},
        source_path=None, parent_run_id=None, started_at=1764430000.1234567,
    )  # fmt: skip
    outputs = [{"t": "漢字 é", "n": 1e-7, "big": 2**70, "nested": [{"x": None}]},
               {"s": "line\nbreak\ttab \x1b[31m", "f": 0.1 + 0.2}, None]  # fmt: skip
    records = [
        ItemRecord("each", i, status, f"k{i}", {"key": f"k{i}"}, output,
                   None if output else {"message": "lost ☂", "kind": "outcome_unknown"},
                   [{"attempt": 1, "wait": 0.30000000000000004}], started, finished, reused)
        for i, (status, output, started, finished, reused) in enumerate([
            ("succeeded", outputs[0], 1764430000.987654321, 1764430001.5, None),
            ("succeeded", outputs[1], 17.0, 18, "r-parent"),
            ("outcome_unknown", outputs[2], None, None, None),
        ])
    ]  # fmt: skip
    runlog.write_items(run_id, records)
    summary = {"total": 3, "succeeded": 2, "failed": 0, "skipped": 0}
    output = {"items": LoopItems(runlog, run_id, "each", 3), "summary": summary}
    runlog.write_step(run_id, "each", position=0, kind="loop", status="failed",
                      definition={"id": "each"}, output=output, summary=summary)  # fmt: skip
    runlog.finish_run(run_id, status="failed", finished_at=4.25, output=output)
    text = _text(runlog, run_id)
    assert text == _whole_text(runlog, run_id)
    assert json.loads(text) == _whole(runlog, run_id)


def test_a_long_payload_is_written_in_slices_not_copied_whole() -> None:
    writes: list[int] = []

    class Sizes(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(len(text))
            return super().write(text)

    big = json.dumps(["x" * 100] * (3 * WRITE_SIZE // 100))
    out = Sizes()
    write_json({"a": 1, "trigger": RawJSON(big), "items": RawArray(iter(["1", "{}"]))}, out)
    assert json.loads(out.getvalue()) == {"a": 1, "trigger": json.loads(big), "items": [1, {}]}
    assert max(writes) <= WRITE_SIZE and len(writes) < 10


def test_an_empty_loop_and_a_secret_registered_since(runlog: RunLog) -> None:
    forget_secrets()
    try:
        run_id = _loop_run(runlog, 0)
        doc = json.loads(_text(runlog, run_id))
        assert doc["output"]["items"] == [] and doc["steps"][0]["items"] == []
        other = _loop_run(runlog, 3, prefix="sk-live-0123456789-")
        register_secret("sk-live-0123456789-1")  # stored before it was known: masked when shown
        text = _text(runlog, other)
        assert "sk-live-0123456789-1" not in text and MASK in text
        assert json.loads(text)["steps"][0]["items"][1]["item"] == MASK
    finally:
        forget_secrets()


def _text(log: RunLog, run_id: str) -> str:
    out = io.StringIO()
    show(log, _args(run_id), out)
    return out.getvalue()


class _Sink(io.TextIOBase):
    """Counts what is written and keeps none of it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


@pytest.mark.slow
@pytest.mark.parametrize("runlog_target", ["sqlite"], indirect=True)
def test_show_json_memory_does_not_grow_with_the_items(runlog: RunLog) -> None:
    peaks = []
    # Both past what the writer holds at most (a page of records, a mebibyte of text).
    for n in (10_000, 40_000):
        run_id = _loop_run(runlog, n)
        sink = _Sink()
        tracemalloc.start()
        try:
            show(runlog, _args(run_id), sink)  # type: ignore[arg-type]
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert sink.size > n * 2 * 100  # every item, twice (the run's output, the records)
    small, large = peaks
    # Holding the document (or the items) would add over 300 bytes an item: 9 MB here.
    assert (large - small) / 30_000 < 30, peaks
    assert large / small < 1.5, peaks


def test_the_text_view_pages_through_a_loops_items(runlog: RunLog) -> None:
    run_id = _loop_run(runlog, 45, failed=frozenset({4}))
    seen: list[int] = []
    after = None
    for _ in range(10):
        out = io.StringIO()
        show(runlog, _args(run_id, json=False, step="each", after=after, limit=20), out)
        lines = out.getvalue().splitlines()
        seen += [int(line.split()[1]) for line in lines if line.startswith("item ")]
        hint = [line for line in lines if line.startswith("next page:")]
        if not hint:
            break
        after = int(hint[0].split("--after ")[1].split()[0])
    assert seen == list(range(45))
    with pytest.raises(InvalidInput, match=r"no loop step 'nope'.*its loop steps: each"):
        show(runlog, _args(run_id, step="nope"), io.StringIO())
    with pytest.raises(InvalidInput, match="--after needs --step"):
        show(runlog, _args(run_id, after=3), io.StringIO())


def test_the_json_page_has_the_next_cursor(runlog: RunLog) -> None:
    run_id = _loop_run(runlog, 5)
    out = io.StringIO()
    show(runlog, _args(run_id, step="each", limit=3), out)
    page = json.loads(out.getvalue())
    assert [i["index"] for i in page["items"]] == [0, 1, 2] and page["next_cursor"] == 2
    out = io.StringIO()
    show(runlog, _args(run_id, step="each", limit=3, after=2), out)
    page = json.loads(out.getvalue())
    assert [i["index"] for i in page["items"]] == [3, 4] and page["next_cursor"] is None


def test_the_python_api_pages_by_cursor(runlog: RunLog, runlog_target: Path | str) -> None:
    run_id = _loop_run(runlog, 2_503, failed=frozenset({7, 2_000}))
    indexes: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = run_items(run_id, "each", cursor=cursor, limit=1_000, runlog=runlog_target)
        pages += 1
        assert len(page.items) <= 1_000
        indexes += [item.index for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert indexes == list(range(2_503)) and pages == 3
    failed = run_items(run_id, "each", status="failed", runlog=runlog_target)
    assert [i.index for i in failed.items] == [7, 2_000] and failed.next_cursor is None
    assert failed.items[0].error == {"message": "no", "kind": "quota_exhausted"}
    for bad in (0, 10_001, True):
        with pytest.raises(InvalidInput, match="limit must be a whole number from 1 to 10,000"):
            run_items(run_id, "each", limit=bad, runlog=runlog_target)
    with pytest.raises(InvalidInput, match="cursor must be"):
        run_items(run_id, "each", cursor="3", runlog=runlog_target)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfiguration, match="no run with id 'nope'"):
        run_items("nope", "each", runlog=runlog_target)


def test_run_document_leaves_the_items_unread(runlog: RunLog) -> None:
    run_id = _loop_run(runlog, 10)
    doc = run_document(runlog, run_id)
    assert isinstance(doc["output"]["items"], LoopItems)
    assert not isinstance(doc["steps"][0]["items"], list)
