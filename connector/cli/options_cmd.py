"""`connector catalog options APP.KEY INPUT`: the dynamic options of one input.

Prints `[{"label": ..., "value": ...}]` (with --json, one line), or a two-column list. When
more options follow, stderr says which `--cursor` reads them. Exit codes as for `actions run`:
1 when the options action's API call failed (its message shown), 2 for bad input (unknown
action or input, an input without dynamic options, a missing dependency).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from connector.cli.actions_cmd import parse_inputs
from connector.cli.targets import add_target_arguments, api_targets
from connector.redact import redact

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "options",
        help="list an input's dynamic options (groups, domains, tags...)",
        description="Load the options of an input that declares options_from, by running the "
        "action that lists them; print [{label, value}].",
    )
    p.add_argument("action_id", metavar="APP.KEY", help="action id, e.g. bitly.create_bitlink")
    p.add_argument("input_key", metavar="INPUT", help="the input, e.g. group_guid")
    add_target_arguments(
        p, "a value of the form so far, for options that depend on it (repeat the flag)"
    )
    p.add_argument("--search", metavar="TEXT", help="only options matching this text")
    p.add_argument("--cursor", metavar="CURSOR", help="the next page, as a previous call said")
    p.set_defaults(func=_options)


def _options(args: argparse.Namespace) -> int:
    import asyncio  # here: `--help` and the other commands do without it

    from connector.api import load_options

    inputs = parse_inputs(args.input, None)
    with api_targets(args.sandbox) as targets:
        page = asyncio.run(
            load_options(
                args.action_id,
                args.input_key,
                inputs,
                search=args.search,
                cursor=args.cursor,
                **targets,
            )
        )
    if args.json:
        print(redact(json.dumps(page.options, ensure_ascii=False)))
    else:
        width = max((len(str(o["label"])) for o in page.options), default=0)
        for option in page.options:
            print(redact(f"{option['label']!s:<{width}}  {option['value']}"))
    if page.next_cursor is not None:
        print(f"more options: add --cursor {page.next_cursor}", file=sys.stderr)
    return 0
