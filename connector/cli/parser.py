"""The CLI's argument parser: argparse, with a usage error on one line (exit 2)."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["Parser"]


class Parser(argparse.ArgumentParser):
    """A usage error is one line naming the command, like every other error (exit 2);
    `--help` still shows the whole usage."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)
