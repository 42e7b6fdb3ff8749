"""dumps_redacted's shared C encoder writes exactly what json.dumps(separators=(",", ":"),
default=str, ensure_ascii=False) writes, for every kind of value the run log may get."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest

from connector.redact import MASK, dumps_redacted, forget_secrets, register_secret


@pytest.fixture(autouse=True)
def _isolated_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def _reference(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)


FIXED = [
    "s", 'quote" back\\ nl\n ls\u2028 \u00e9 \U0001f600 \x00', "", 0, -1, 10**40, 1.5, -0.0,
    1e300, math.inf, -math.inf, None, True, False, [], {}, (1, "two"),
    {"a": [1, {"b": None}], "\u00e9": "\u00fc"}, {1: "int", False: "bool", None: "none", 2.5: "f"},
    {"when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "set": {1}},
]  # fmt: skip


@pytest.mark.parametrize("value", FIXED, ids=range(len(FIXED)))
def test_fixed_values(value: Any) -> None:
    assert dumps_redacted(value) == _reference(value)


def test_nan_is_written_as_json_dumps_writes_it() -> None:
    assert dumps_redacted([math.nan]) == _reference([math.nan]) == "[NaN]"


def _random(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return "".join(rng.choice('ab"\\\n\u00e9\U0001f600 /') for _ in range(rng.randrange(8)))
    if kind == 1:
        return rng.randint(-(10**20), 10**20)
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return dt.date(2026, 1, 1 + rng.randrange(28))
    if kind == 5:
        return rng.choice(["", "x"])
    if kind == 6:
        return [_random(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return tuple(_random(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {str(_random(rng, 4)): _random(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_random_values() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        value = _random(rng)
        assert dumps_redacted(value) == _reference(value)


def test_still_masks_and_keeps_no_state_between_calls() -> None:
    register_secret("tok-0123456789")
    value = {"a": "tok-0123456789", "b": ["x tok-0123456789 y"]}
    assert dumps_redacted(value) == _reference({"a": MASK, "b": [f"x {MASK} y"]})
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(RecursionError):
        dumps_redacted(looped)
    # A failed call leaves nothing behind that changes the next one.
    assert dumps_redacted(value) == _reference({"a": MASK, "b": [f"x {MASK} y"]})
