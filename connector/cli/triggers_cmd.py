"""`connector triggers poll APP.KEY`: poll a trigger once, print its new events.
`connector triggers parse APP.KEY --payload FILE`: a webhook trigger's event from one
delivery (what the service's hook URL does with each), or a one-line error naming the
malformed field (exit 2).

With `--state FILE` the previous poll's state is read from FILE (none yet: a first poll) and
the next state written back to it atomically, after the events are printed: a poll that fails
leaves FILE as it was, so the next one misses nothing. Prints `{"events": [...], "state":
{...}}`. Exit codes as for `actions run`: 1 when the API call failed, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from connector.cli.actions_cmd import parse_inputs
from connector.cli.targets import add_target_arguments, api_targets
from connector.redact import redact

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("triggers", help="poll polling triggers")
    sub = parser.add_subparsers(dest="triggers_command", metavar="SUBCOMMAND", required=True)
    poll = sub.add_parser(
        "poll",
        help="poll a trigger once and print its new events",
        description="Poll a trigger once: the events since the state in --state FILE (a first "
        "poll without it), and the next state, written back to FILE.",
    )
    poll.add_argument("trigger", metavar="APP.KEY", help="trigger id, e.g. bitly.new_bitlink")
    add_target_arguments(poll, "an input value (repeat the flag)")
    poll.add_argument("--state", type=Path, metavar="FILE", help="read and keep the state here")
    poll.add_argument(
        "--replay",
        action="store_true",
        help="on a first poll, return what already exists as events",
    )
    poll.set_defaults(func=_poll)
    parse = sub.add_parser(
        "parse",
        help="parse one delivery of a webhook trigger into its event",
        description="Validate one webhook delivery (JSON, from FILE or - for stdin) as the "
        "service's hook URL does, and print the event it starts a run with.",
    )
    parse.add_argument("trigger", metavar="APP.KEY", help="trigger id, e.g. bitly.link_clicked")
    parse.add_argument("--payload", required=True, metavar="FILE", help="the delivery's JSON")
    parse.add_argument(
        "--input", action="append", default=[], metavar="KEY=VALUE", help="an input value"
    )
    parse.add_argument("--json", action="store_true", help="print compact JSON (one line)")
    parse.set_defaults(func=_parse)


def _poll(args: argparse.Namespace) -> int:
    import asyncio  # here: `--help` and the other commands do without it

    from connector.api import poll_trigger
    from connector.catalog import load_catalog
    from connector.triggers import read_state, write_state

    inputs = parse_inputs(args.input, None)
    catalog = load_catalog()
    catalog.get(args.trigger)  # an unknown id fails before the state file is read
    state = read_state(args.state, args.trigger, inputs) if args.state else None
    with api_targets(args.sandbox) as targets:
        result = asyncio.run(
            poll_trigger(
                args.trigger, inputs, state, replay=args.replay, catalog=catalog, **targets
            )
        )
    document = {"events": result.events, "state": result.state}
    print(redact(json.dumps(document, indent=None if args.json else 2, ensure_ascii=False)))
    if args.state:
        write_state(args.state, args.trigger, inputs, result.state)
    return 0


def _parse(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from connector.catalog import load_catalog
    from connector.safe_load import load_json, read_text
    from connector.triggers import parse_delivery

    inputs = parse_inputs(args.input, None)
    catalog = load_catalog()
    catalog.get(args.trigger)
    if args.payload == "-":
        text, source = sys.stdin.read(), "<stdin>"
    else:
        text, source = read_text(args.payload, what="delivery"), str(args.payload)
    payload = load_json(text, source)
    event = asyncio.run(parse_delivery(catalog, args.trigger, inputs, payload))
    print(redact(json.dumps(event, indent=None if args.json else 2, ensure_ascii=False)))
    return 0
