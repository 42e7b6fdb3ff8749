"""`connector limits APP [--sandbox] [--workflow FILE] [--json]`: the limits a run paces by.

Each figure says where it came from: the app manifest (a basic account's defaults), the
API itself (the account's real limits, with what is already used), a workflow, a
connection or the environment (`CONNECTOR_LIMITS_<APP>`). Exit 2 for an unknown app or a
bad limits variable.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from connector.errors import InvalidInput

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("limits", help="the rate limits in force for an app")
    parser.add_argument(
        "app", metavar="APP", help="an installed app (`connector catalog list` shows them)"
    )
    parser.add_argument(
        "--sandbox", action="store_true", help="read them from the embedded sandbox"
    )
    parser.add_argument(
        "--workflow", type=Path, metavar="FILE", help="include the limits this workflow sets"
    )
    parser.add_argument("--json", action="store_true", help="JSON output")
    parser.set_defaults(func=_limits)


def _limits(args: argparse.Namespace) -> int:
    from connector.catalog import load_catalog
    from connector.engine.limits import LimitsReport, limits_in_force

    catalog = load_catalog()
    if args.app not in catalog.apps:
        close = difflib.get_close_matches(args.app, list(catalog.apps), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidInput(
            f"unknown app {args.app!r}{hint}; apps: {', '.join(catalog.apps)}", where="APP"
        )

    given = None
    if args.workflow is not None:
        from connector.engine.workflow import load_workflow

        given = load_workflow(args.workflow, catalog).limits.get(args.app)

    def report(base_urls: Any = None, credentials: Any = None) -> LimitsReport:
        import asyncio  # here: `connector --help` must not load the event loop

        return asyncio.run(
            limits_in_force(
                catalog,
                args.app,
                base_urls=base_urls,
                credentials=credentials,
                env=os.environ,
                workflow_limits=given,
            )
        )

    if args.sandbox:
        from connector.sandbox.embedded import embedded_sandboxes

        with embedded_sandboxes() as boxes:
            result = report(boxes.base_urls, boxes.credentials)
            where = f"sandbox {boxes.base_urls[args.app]}"
    else:
        result = report()
        where = "the API"
    if args.json:
        print(json.dumps({"from": where, **asdict(result)}, indent=2))
        return 0
    _print(result, where)
    return 0


_WINDOWS = ("concurrent", "second", "minute", "hour", "month")


def _print(result: Any, where: str) -> None:
    out = sys.stdout
    read = "the manifest and settings" if result.note else where
    out.write(f"{result.app}: limits in force ({result.windows} windows), from {read}\n")
    if result.note:
        out.write(f"note: {result.note}\n")
    # One line per scope: its figure per window, what is used this hour, and the sources.
    scopes: dict[str, dict[str, Any]] = {}
    for r in result.rows:
        entry = scopes.setdefault(r.scope, {"sources": {}})
        entry[r.window] = str(r.limit)
        if r.used is not None:
            entry["used"] = str(r.used)
        entry["sources"].setdefault(r.source, []).append(r.window)
    shown = [w for w in _WINDOWS if any(w in e for e in scopes.values())]
    header = ("scope", *shown, "used/hour", "source")
    rows = [header]
    for scope, entry in scopes.items():
        sources = entry["sources"]
        source = (
            next(iter(sources))
            if len(sources) == 1
            else "; ".join(f"{'+'.join(ws)}: {src}" for src, ws in sources.items())
        )
        rows.append((scope, *(entry.get(w, "") for w in shown), entry.get("used", ""), source))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [
            cell.ljust(width) if i in (0, len(row) - 1) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  " + "  ".join(cells).rstrip() + "\n")
    if result.plan:
        out.write("monthly plan:\n")
        for f in result.plan:
            out.write(f"  {f.name}: {f.count} of {f.limit} used, {f.left} left\n")
