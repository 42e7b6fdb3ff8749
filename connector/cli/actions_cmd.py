"""`connector actions run APP.KEY`: run one action and print its output as JSON.

Exit codes: 0 with the output on stdout; 1 when the API call failed; 2 for invalid input,
an unknown action, a bad manifest or a missing credential. A failure prints one line on
stderr that names the action and the cause (credentials redacted).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from connector.binary import binary_content
from connector.cli.files import write_whole
from connector.errors import ConnectorError, FatalError, InvalidInput
from connector.redact import redact

__all__ = ["parse_inputs", "register", "run_action"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("actions", help="run catalog actions")
    sub = parser.add_subparsers(dest="actions_command", metavar="SUBCOMMAND", required=True)
    run = sub.add_parser(
        "run",
        help="run one action and print its output as JSON",
        description="Run one action with the given inputs; print its output as JSON.",
    )
    run.add_argument("action", metavar="APP.KEY", help="action id, e.g. bitly.get_bitlink")
    run.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input value (repeat the flag; a key given twice becomes a list)",
    )
    run.add_argument("--inputs-json", metavar="JSON", help="inputs as one JSON object")
    run.add_argument(
        "--context-json",
        metavar="JSON",
        help='template context as a JSON object, e.g. \'{"trigger": {"units": 7}}\'',
    )
    run.add_argument(
        "--sandbox",
        action="store_true",
        help="start the embedded sandboxes with demo data and run against them",
    )
    run.add_argument("--json", action="store_true", help="print compact JSON (one line)")
    run.add_argument(
        "--save-binary",
        type=Path,
        metavar="FILE",
        help="also write the binary content of the output (an image: its base64 field or data "
        "URL) to FILE, decoded",
    )
    run.set_defaults(func=_run_command)


def _json_object(text: str | None, flag: str) -> dict[str, Any]:
    if text is None:
        return {}
    from connector.safe_load import load_json  # with YAML: loaded when a flag is given

    value = load_json(text, flag)
    if not isinstance(value, dict):
        raise InvalidInput(f"{flag} must be a JSON object, not {type(value).__name__}")
    return value


def parse_inputs(pairs: list[str], inputs_json: str | None) -> dict[str, Any]:
    """`--inputs-json` first, then every `--input key=value` (a repeated key makes a list)."""
    raw = _json_object(inputs_json, "--inputs-json")
    seen: set[str] = set()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            # Not echoed: a value pasted without its key may be a token, and a cut-short
            # quote of it could not be masked.
            raise InvalidInput("--input takes KEY=VALUE; one was given without a key or '='")
        if key in seen:
            previous = raw[key]
            raw[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            raw[key] = value
            seen.add(key)
    return raw


def run_action(
    action_id: str,
    raw_inputs: dict[str, Any],
    context: dict[str, Any],
    *,
    sandbox: bool = False,
) -> Any:
    """`connector.api.run_action`, against the embedded sandboxes when `sandbox`."""
    import asyncio

    from connector.api import run_action as run

    with ExitStack() as stack:
        kwargs: dict[str, Any] = {}
        if sandbox:
            from connector.sandbox.embedded import embedded_sandboxes

            boxes = stack.enter_context(embedded_sandboxes())
            kwargs = {"base_urls": dict(boxes.base_urls), "credentials": dict(boxes.credentials)}
        return asyncio.run(run(action_id, raw_inputs, context, **kwargs))


def _run_command(args: argparse.Namespace) -> int:
    action_id: str = args.action
    try:
        raw = parse_inputs(args.input, args.inputs_json)
        context = _json_object(args.context_json, "--context-json")
        if args.save_binary is not None:
            _check_binary_output(action_id)
        output = run_action(action_id, raw, context, sandbox=args.sandbox)
        if args.save_binary is not None:
            _save_binary(action_id, output, args.save_binary)
    except ConnectorError as exc:
        _fail(action_id, str(exc))
        return exc.exit_code
    except Exception as exc:  # a bug must still end in one readable line, never a token
        _fail(action_id, f"unexpected {type(exc).__name__}: {exc}")
        return 1
    indent = None if args.json else 2
    print(redact(json.dumps(output, indent=indent, ensure_ascii=False)))
    return 0


def _check_binary_output(action_id: str) -> None:
    """Before running: an action whose sample output carries no binary content cannot fill
    --save-binary (checked first, so a write is not made for nothing)."""
    from connector.catalog import load_catalog

    action = load_catalog().get(action_id)
    if binary_content(action.output_sample) is None:
        raise InvalidInput(
            f"--save-binary: {action_id} returns no binary content (no base64 field or data URL "
            "in its output)"
        )


def _save_binary(action_id: str, output: Any, path: Path) -> None:
    found = binary_content(output)
    if found is None:
        raise FatalError(
            "--save-binary: the output holds no decodable binary content",
            where=action_id,
        )
    write_whole(path, found[1], "the binary content")


def _fail(action_id: str, message: str) -> None:
    line = message if message.startswith(action_id) else f"{action_id}: {message}"
    line = " ".join(redact(line).split())  # one line, whatever the cause held
    print(f"error: {line}", file=sys.stderr)
