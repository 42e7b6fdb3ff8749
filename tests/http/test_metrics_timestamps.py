"""connector.apps.bitly.metrics.normalize_timestamp after string timestamps went through an
lru_cache: the same results as the uncached parser, for edge cases and random strings, and
the one documented change (a numeric string that cannot be read as a time is kept as given,
a string, where the old code returned the float it parsed).
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.apps.bitly import metrics
from connector.apps.bitly.metrics import normalize_timestamp

_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def _reference(value: Any) -> Any:
    """The uncached parser as it was, with the documented fix for unreadable numerals."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        try:
            when = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return value
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            result = _reference(float(text))
            return result if isinstance(result, str) else value
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        text = _OFFSET_NO_COLON.sub(r"\1:\2", text)
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return value
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    else:
        return value
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


EDGES: list[tuple[Any, Any]] = [
    ("2020-02-03T12:06:17+0000", "2020-02-03T12:06:17Z"),
    ("2020-02-03T12:06:17-0130", "2020-02-03T13:36:17Z"),
    ("2020-02-03T17:36:17+05:30", "2020-02-03T12:06:17Z"),
    ("2020-02-03t12:06:17z", "2020-02-03T12:06:17Z"),
    ("2020-02-03T12:06:17.999999Z", "2020-02-03T12:06:17Z"),  # fractions dropped, not rounded
    ("  2020-02-03T12:06:17Z\n", "2020-02-03T12:06:17Z"),
    ("2020-02-03", "2020-02-03T00:00:00Z"),
    ("1580731577", "2020-02-03T12:06:17Z"),
    (" 1580731577.9 ", "2020-02-03T12:06:17Z"),
    ("-5", "1969-12-31T23:59:55Z"),
    ("0", "1970-01-01T00:00:00Z"),
    (1580731577, "2020-02-03T12:06:17Z"),
    (1580731577.5, "2020-02-03T12:06:17Z"),
    # kept as given
    ("99999999999999999999", "99999999999999999999"),
    ("-99999999999999999999", "-99999999999999999999"),
    ("1e10", "1e10"),
    ("+1580731577", "+1580731577"),
    ("nan", "nan"),
    ("inf", "inf"),
    ("yesterday", "yesterday"),
    (" yesterday ", " yesterday "),  # the given text, not a stripped copy
    ("", ""),
    ("   ", "   "),
    ("Z", "Z"),
    ("2020-13-45T99:99:99Z", "2020-13-45T99:99:99Z"),
    (10**30, 10**30),
    (float("inf"), float("inf")),
    (True, True),
    (False, False),
    (None, None),
    ([1580731577], [1580731577]),
]


@pytest.mark.parametrize(("raw", "expected"), EDGES)
def test_edge_cases_keep_their_documented_behaviour(raw: Any, expected: Any) -> None:
    for _ in range(2):  # the second call is served by the cache for strings
        result = normalize_timestamp(raw)
        assert result == expected
        assert type(result) is type(expected)


def test_nan_is_kept() -> None:
    nan = float("nan")
    assert normalize_timestamp(nan) is nan


def test_unreadable_numerals_stay_strings_where_the_old_code_gave_a_float() -> None:
    # The old code returned normalize_timestamp(float(text)): 1e+20, a float in a field
    # documented as a timestamp string or the value as given.
    assert normalize_timestamp("99999999999999999999") == "99999999999999999999"


def _random_text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        base = list(
            rng.choice(
                [
                    "2020-02-03T12:06:17+0000",
                    "2026-04-11T00:00:00Z",
                    "2019-12-31T23:59:59-0800",
                    "1580731577",
                    "2020-02-03",
                ]
            )
        )
        for _ in range(rng.randint(0, 3)):  # mutate a valid form
            i = rng.randrange(len(base) + 1)
            op = rng.random()
            if op < 0.4 and i < len(base):
                base[i] = rng.choice("0123456789-+:TZz .")
            elif op < 0.7:
                base.insert(i, rng.choice("0123456789-+:TZz ."))
            elif i < len(base):
                del base[i]
        return "".join(base)
    return "".join(rng.choice("0123456789-+:.TZz e") for _ in range(rng.randint(0, 28)))


def test_random_strings_match_the_uncached_parser() -> None:
    rng = random.Random(20260411)
    texts = [_random_text(rng) for _ in range(3_000)]
    for text in texts + texts:  # each twice: computed, then from the cache
        assert normalize_timestamp(text) == _reference(text), text


def test_the_cache_is_bounded_and_right_after_eviction() -> None:
    cached = metrics._normalize_text
    assert cached.cache_info().maxsize == 4096
    for i in range(5_000):
        assert normalize_timestamp(str(1_600_000_000 + i)) == _reference(1_600_000_000 + i)
    assert cached.cache_info().currsize <= 4096
    # the first ones were evicted; computed again, still right
    assert normalize_timestamp("1600000000") == "2020-09-13T12:26:40Z"
