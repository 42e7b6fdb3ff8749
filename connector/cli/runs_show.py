"""`connector runs show RUN [--json] [--step STEP [--after CURSOR] [--limit N]]`.

The whole run as one JSON document is written as it is read (json_stream.py): a loop's
items come from the run log a page at a time and their stored JSON is written as it is
(each item's record on one line), so a run of a million items is shown in the memory of
one page. `--step` shows one page
of a loop step's items instead, with the cursor of the next.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TextIO

from connector.cli.json_stream import RawArray, RawJSON, write_json
from connector.errors import InvalidInput
from connector.lazy_array import MAX_PAGE
from connector.redact import holds_secret, mask_json

if TYPE_CHECKING:
    from connector.engine.runlog import RunLog

# The engine's modules are imported when a run is shown: building the parser loads none.

__all__ = ["add_options", "show"]

#: the columns of RunLog.item_row_pages, as an ItemRecord names them
_ITEM_FIELDS = ("step_id", "index", "status", "item", "inputs", "output", "error", "attempts",
                "started_at", "finished_at", "reused_from")  # fmt: skip
#: which of them hold JSON text
_JSON_FIELDS = frozenset({"item", "inputs", "output", "error", "attempts"})


def _page_size(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value[:40]!r}") from None
    if not 1 <= number <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_PAGE:,}, got {value[:40]}")
    return number


def _cursor(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected the cursor a page printed (a whole number), got {value[:40]!r}"
        ) from None


def add_options(show: argparse.ArgumentParser) -> None:
    show.add_argument("--step", help="show a page of this loop step's items")
    show.add_argument("--after", type=_cursor, metavar="CURSOR", help="the page after this cursor")
    show.add_argument(
        "--limit", type=_page_size, default=20, help=f"items per page (1..{MAX_PAGE:,})"
    )


def show(log: RunLog, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.step is not None:
        return _page(log, args, out)
    if args.after is not None:
        raise InvalidInput(
            "--after needs --step (the loop step whose items to page)", where="--after"
        )
    if args.json:
        write_json(run_document(log, args.run_id), out)
    else:
        from connector.engine.report import render_run

        out.write("\n".join(render_run(log, args.run_id)) + "\n")
    return 0


def _page(log: RunLog, args: argparse.Namespace, out: TextIO) -> int:
    run = log.get_run(args.run_id, trigger_json=True)  # not shown: not decoded
    steps = {s.step_id: s for s in log.steps(run.id, outputs=False)}
    step = steps.get(args.step)
    if step is None or step.kind != "loop":
        loops = ", ".join(s for s, r in steps.items() if r.kind == "loop") or "none"
        raise InvalidInput(
            f"run {run.id} has no loop step {args.step!r} (its loop steps: {loops})",
            where="--step",
        )
    page = log.item_page(run.id, args.step, cursor=args.after, limit=args.limit)
    if args.json:
        doc = {
            "run_id": run.id,
            "step_id": args.step,
            "items": [asdict(item) for item in page.items],
            "next_cursor": page.next_cursor,
        }
        write_json(doc, out)
    else:
        from connector.engine.report import render_item_page

        lines = render_item_page(page.items)
        if page.next_cursor is not None:
            lines.append(
                f"next page: connector runs show {run.id} --step {args.step}"
                f" --after {page.next_cursor} --limit {args.limit}"
            )
        out.write("\n".join(lines) + "\n")
    return 0


def run_document(log: RunLog, run_id: str) -> dict[str, Any]:
    """The run as `runs show --json` writes it: the run's record, its retry, its writes,
    and its steps, a loop step's with its items (streamed, not read here).

    A loop step's `output` is null, as in the service's run view: it was `{"items": [every
    output], "summary"}`, a second copy of what its item records and its `summary` hold
    (ARCHITECTURE.md, "Loops in constant memory")."""
    run = log.get_run(run_id, trigger_json=True)  # a big payload is copied, not decoded
    doc = asdict(run) | {"display_status": run.display_status, "trigger": RawJSON(run.trigger)}
    doc["retried_as"] = log.child_of(run.id)
    doc["writes"] = [
        asdict(w) for w in log.intents.of_lineage(log.lineage_of(run.id)) if w.run_id == run.id
    ]
    doc["steps"] = []
    for step in log.steps(run.id):
        entry = asdict(step)
        if step.kind == "loop":
            entry["output"] = None
            entry["items"] = RawArray(item_texts(log, run.id, step.step_id))
        doc["steps"].append(entry)
    return doc


def item_texts(log: RunLog, run_id: str, step_id: str) -> Iterator[str]:
    """Each item's record as one line of compact JSON, its JSON columns copied as stored
    (masked again if a secret registered since is in them), not decoded and encoded."""
    step = json.dumps(step_id)
    for rows in log.item_row_pages(run_id, step_id):
        texts = [
            f'{{"step_id":{step},"index":{index},'
            f'"status":{_STATUS.get(status) or json.dumps(status)},'
            f'"item":{"null" if item is None else item},'
            f'"inputs":{"null" if inputs is None else inputs},'
            f'"output":{"null" if output is None else output},'
            f'"error":{"null" if error is None else error},'
            f'"attempts":{"[]" if attempts is None else attempts},'
            f'"started_at":{_number(t0)},"finished_at":{_number(t1)},'
            f'"reused_from":{"null" if reused is None else json.dumps(reused)}}}'
            for _, index, status, item, inputs, output, error, attempts, t0, t1, reused in rows
        ]
        # "\0" never occurs in JSON text: no secret straddles two records. Seen anywhere in
        # the page (a record's other fields included), its records are masked field by field.
        if holds_secret("\0".join(texts)):
            texts = [_masked_record(row) for row in rows]
        yield from texts


_STATUS = {s: json.dumps(s) for s in ("succeeded", "failed", "skipped", "outcome_unknown")}


def _number(value: Any) -> str:
    """A timestamp as json.dumps writes it (a finite float is its repr: no encoder built)."""
    if value.__class__ is float and value - value == 0:
        return repr(value)
    return json.dumps(value)


def _masked_record(row: tuple[Any, ...]) -> str:
    """An item's record with each JSON column masked (a page where a secret was seen)."""
    parts = []
    for name, value in zip(_ITEM_FIELDS, row, strict=True):
        if name in _JSON_FIELDS:
            if value is None:
                text = "[]" if name == "attempts" else "null"
            else:
                text = mask_json(value) if holds_secret(value) else value
        else:
            text = json.dumps(value)
        parts.append(f'"{name}":{text}')
    return "{" + ",".join(parts) + "}"
