"""Settings shared by both sandbox servers: seed, storage, accepted credentials, controls."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from connector.sandbox.controls import Controls

__all__ = [
    "DEMO_BITLY_TOKEN",
    "DEMO_SEED",
    "DEMO_SHORTEN_KEY",
    "FROZEN_INSTANT",
    "SandboxConfig",
    "frozen_clock",
    "parse_seed",
]

#: Accepted by the Bitly sandbox when no --token is given (documented in the README).
DEMO_BITLY_TOKEN = "sandbox-bitly-demo-token-0123456789"
#: Accepted by the shorten.dev sandbox, with every scope, when no --token is given.
DEMO_SHORTEN_KEY = "sk_sandbox_demo_0123456789abcdef"
#: The seed number `--seed demo` stands for.
DEMO_SEED = 1
#: The wall-clock instant a frozen sandbox lives at, 2026-04-15T12:00:00Z. Demo links, clicks
#: and metrics windows are placed relative to "now", so cassettes are recorded (and the
#: catalog's sandbox runs checked) at this instant: the same requests give the same bytes on
#: any day.
FROZEN_INSTANT = 1_776_254_400.0


def frozen_clock(instant: float = FROZEN_INSTANT) -> Callable[[], float]:
    """A `SandboxConfig.now` that always answers `instant`."""

    def now() -> float:
        return instant

    return now


def parse_seed(value: str | int | None) -> int | None:
    """`demo` -> DEMO_SEED, a number -> that number, None -> no demo data."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if value.strip().lower() == "demo":
        return DEMO_SEED
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"--seed takes 'demo' or an integer, not {value!r}") from None


@dataclass
class SandboxConfig:
    """How to build a sandbox app.

    `seed` None gives an account with its fixed organisation, group, user and BSDs but no
    links; an integer also loads demo links and about 90 days of clicks generated from it.
    """

    seed: int | None = None
    #: SQLite file; None keeps the state in memory
    db_path: str | None = None
    #: Bitly: accepted bearer tokens. shorten.dev: key -> scopes ("read", "write", "admin").
    tokens: dict[str, frozenset[str]] = field(default_factory=dict)
    controls: Controls = field(default_factory=Controls)
    #: wall clock (epoch seconds) for click times, metrics windows and rate windows
    now: Callable[[], float] = time.time
