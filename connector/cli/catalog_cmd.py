"""`connector catalog list | show | validate | export | options`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from connector.cli.files import write_whole
from connector.cli.options_cmd import add_parser as add_options_parser

# Each command imports what it uses when it runs: `--help` loads no catalog at all, and
# `catalog list` neither the export (the vendor facts, JSON Schema) nor the validators.

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("catalog", help="list, show, validate and export actions")
    sub = parser.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND", required=True)

    def root_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--root",
            type=Path,
            default=None,
            help="read only the app folders under this directory (default: the installed apps)",
        )

    p = sub.add_parser("list", help="list actions")
    p.add_argument("--app", help="only this app")
    p.add_argument("--json", action="store_true", help="JSON output")
    root_option(p)
    p.set_defaults(func=_list)

    p = sub.add_parser("show", help="describe one action")
    p.add_argument("action_id", metavar="APP.KEY")
    p.add_argument("--json", action="store_true", help="JSON output")
    root_option(p)
    p.set_defaults(func=_show)

    p = sub.add_parser("validate", help="check every manifest; exit 1 on any error")
    root_option(p)
    p.set_defaults(func=_validate)

    p = sub.add_parser("export", help="the whole catalog as one JSON document for builders")
    p.add_argument("--out", type=Path, help="write to this file instead of stdout")
    root_option(p)
    p.set_defaults(func=_export)

    add_options_parser(sub)


def _list(args: argparse.Namespace) -> int:
    # From the listing index while no manifest changed: no models, no YAML (catalog_index).
    from connector.cli.catalog_index import catalog_listing

    catalog = catalog_listing(args.root)
    actions = [a for a in catalog.actions if not args.app or a.app == args.app]
    if args.app and args.app not in catalog.apps:
        print(f"error: unknown app '{args.app}'; apps: {', '.join(catalog.apps)}", file=sys.stderr)
        return 2
    if args.json:
        rows = [
            {"id": a.id, "name": a.name, "kind": a.kind, "idempotent": a.idempotent,
             "description": a.description}
            for a in actions
        ]  # fmt: skip
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(a.id) for a in actions), default=10)
    for a in actions:
        print(f"{a.id:<{width}}  {a.kind:<7} {a.name}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from connector.catalog import read_catalog
    from connector.catalog.export import action_document

    catalog = read_catalog(args.root)
    action = catalog.get(args.action_id)
    if args.json:
        print(json.dumps(action_document(action), indent=2))
        return 0
    print(f"{action.id}: {action.name} ({action.kind}, idempotent: {action.idempotent})")
    print(f"  {action.description}")
    if action.request:
        print(f"  request: {action.request.method} {action.request.path}")
    else:
        print(f"  handler: {action.handler}")
    print("  inputs:")
    for spec in action.inputs:
        flags = "required" if spec.required else "optional"
        extra = f", default {spec.default!r}" if spec.has_default else ""
        options = f" [{', '.join(str(v) for v in spec.option_values)}]" if spec.options else ""
        print(f"    {spec.key} ({spec.type}, {flags}{extra}){options}: {spec.label}")
    print(f"  sample request: {json.dumps(action.sample_request)}")
    print(f"  sample output: {json.dumps(action.output_sample)[:300]}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    # The full checks need a JSON Schema validator and the template engine: not for `list`.
    from connector.catalog.validate import validate_catalog

    result, errors = validate_catalog(args.root)
    for error in errors:
        print(str(error), file=sys.stderr)
    if errors:
        print(f"{len(errors)} error(s)", file=sys.stderr)
        return 1
    print(f"ok: {len(result.apps)} apps, {len(result.actions)} actions")
    return 0


def _export(args: argparse.Namespace) -> int:
    from connector.catalog import read_catalog
    from connector.catalog.export import export_catalog

    document = json.dumps(export_catalog(read_catalog(args.root)), indent=2)
    if args.out:
        write_whole(args.out, (document + "\n").encode("utf-8"), "the export")
    else:
        print(document)
    return 0
