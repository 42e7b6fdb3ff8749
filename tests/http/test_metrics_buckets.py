"""The metrics handler's per-bucket shortcut gives what the general normalisers give."""

from __future__ import annotations

import enum
import random
from typing import Any

from connector.apps.bitly.metrics import _bucket, normalize_timestamp
from connector.apps.bitly.metrics import count as _count


class _Text(str):
    pass


class _Int(int):
    pass


class _Flag(enum.IntEnum):
    ON = 3


VALUES: list[Any] = [
    "2026-04-11T00:00:00+0000", "2026-04-11T00:00:00Z", " 1712793600 ", "not a date", "",
    _Text("2026-04-11T00:00:00+0000"), 1712793600, 1712793600.5, 10**30, True, False, None,
    [], {}, 42, -1, "42", "4.5", 4.5, _Int(7), _Flag.ON, float("nan"),
]  # fmt: skip


def _general(row: dict[str, Any]) -> dict[str, Any]:
    return {"date": normalize_timestamp(row.get("date")), "clicks": _count(row.get("clicks"))}


def test_every_pair_of_value_kinds() -> None:
    for date in VALUES:
        for clicks in VALUES:
            row = {"date": date, "clicks": clicks}
            fast, general = _bucket(row), _general(row)
            assert repr(fast) == repr(general), row
            assert [type(v) for v in fast.values()] == [type(v) for v in general.values()]


def test_missing_keys_and_random_rows() -> None:
    assert _bucket({}) == _general({})
    rng = random.Random(11)
    for _ in range(2000):
        row = {"date": rng.choice(VALUES), "clicks": rng.choice(VALUES)}
        assert repr(_bucket(row)) == repr(_general(row))
