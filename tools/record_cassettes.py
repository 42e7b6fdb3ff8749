"""Record the catalog's cassettes against the embedded sandboxes (frozen clock, demo data).

    python -m tools.record_cassettes                    # only the actions with no cassette
    python -m tools.record_cassettes bitly.get_user ... # these actions, recorded again
    python -m tools.record_cassettes --all              # every action
    python -m tools.record_cassettes --check            # record every action into a temporary
                                                        # directory; exit 1 if any differs
    python -m tools.record_cassettes --live ID ...      # against the real APIs (real writes!)

Each action runs on fresh sandboxes frozen at the same instant, so a recording writes only the
named actions' cassettes and gives the same bytes every time. Exit codes: 0 done, 1 a
recording failed or `--check` found a difference, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from elsewhere: the recorder lives in tests/
    sys.path.insert(0, str(REPO))

from connector.catalog import Catalog, load_catalog  # noqa: E402
from connector.errors import ConnectorError  # noqa: E402
from tests.catalog.recording import (  # noqa: E402
    CASSETTES,
    RecordingFailed,
    cassette_path,
    record,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.record_cassettes",
        description="Record cassettes for the catalog's actions (default: the missing ones).",
    )
    parser.add_argument("actions", nargs="*", metavar="APP.KEY", help="actions to record again")
    parser.add_argument("--all", action="store_true", help="record every action")
    parser.add_argument(
        "--check", action="store_true", help="record all into a temp dir and compare"
    )
    parser.add_argument("--live", action="store_true", help="record against the real APIs")
    parser.add_argument("--out", type=Path, default=CASSETTES, help="cassette directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        catalog = load_catalog()
    except ConnectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    unknown = [a for a in args.actions if a not in catalog.actions]
    if unknown:
        print(f"error: not in the catalog: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if sum((bool(args.actions), args.all, args.check)) > 1:
        print("error: name actions, or give --all, or --check; not several", file=sys.stderr)
        return 2
    if args.check and args.live:
        print("error: --check compares sandbox recordings; it cannot be --live", file=sys.stderr)
        return 2
    every = sorted(catalog.actions)
    if args.check:
        return _check(catalog, every, args.out)
    if args.all:
        chosen = every
    elif args.actions:
        chosen = list(dict.fromkeys(args.actions))
    else:
        chosen = [a for a in every if not cassette_path(a, args.out).is_file()]
    if not chosen:
        print("every action has a cassette; name actions or give --all to record again")
        return 0
    if args.live:
        apps = sorted({catalog.get(a).app for a in chosen})
        unset = [catalog.apps[app].credential_env for app in apps]
        unset = [name for name in unset if not os.environ.get(name)]
        if unset:
            print(f"error: --live needs {', '.join(unset)} set", file=sys.stderr)
            return 2
    try:
        for path in record(catalog, chosen, args.out, live=args.live):
            print(f"recorded {path}")
    except RecordingFailed as exc:
        print(f"error: recording failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _check(catalog: Catalog, every: list[str], committed: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        try:
            record(catalog, every, Path(scratch))
        except RecordingFailed as exc:
            print(f"error: recording failed: {exc}", file=sys.stderr)
            return 1
        differ = [
            a
            for a in every
            if not cassette_path(a, committed).is_file()
            or not filecmp.cmp(cassette_path(a, committed), cassette_path(a, Path(scratch)), False)
        ]
    for action_id in differ:
        print(f"differs: {cassette_path(action_id, committed)}")
    if not differ:
        print(f"all {len(every)} cassettes recorded again byte for byte")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
