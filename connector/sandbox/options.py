"""argparse types shared by `connector sandbox serve` and the apps' own sandbox options."""

from __future__ import annotations

import argparse

__all__ = ["count"]


def count(value: str) -> int:
    """A whole number, 0 or more; ArgumentTypeError says what was wrong."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {number}")
    return number
