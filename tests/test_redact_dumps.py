"""connector.redact.dumps_redacted: the run log's one-pass serialise-then-mask.

It must give what the older walk gave, `json.dumps(redact_obj(obj))` (compact, unicode kept),
for every JSON value, whatever characters the secrets hold; and it must also mask what only
appears once a value is serialised through `default=str`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.redact import MASK, dumps_redacted, forget_secrets, redact_obj, register_secret

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def _walk(obj: Any) -> str:
    """The old way: redact every string, then serialise."""
    return json.dumps(redact_obj(obj), separators=(",", ":"), ensure_ascii=False)


TOKEN = "tok-4f9a1c7e2b"
QUOTED = 'quo"ted-secret'
BACKSLASHED = "back\\slash\\n-secret"  # a real backslash followed by "n", not a newline
UNICODE = "clé-secrète-é☃"
SCRIPT = "</script>secret"
SHORT_INSIDE = "4f9a1c7e"  # a secret that is a substring of TOKEN
CONTROL = "tab\tnew\nline-secret"
SLASHED = "a/b\\/c/secret"

# (secrets, value) cases; every one must equal the walk.
CASES: list[tuple[tuple[str, ...], Any]] = [
    ((TOKEN,), {"authorization": f"Bearer {TOKEN}", "n": 1, "ok": True, "none": None}),
    ((TOKEN,), [TOKEN, [TOKEN, {"deep": [f"x{TOKEN}y{TOKEN}z"]}]]),
    ((TOKEN,), {TOKEN: "a key can be a secret too"}),
    ((QUOTED,), {"body": f'{{"token": "{QUOTED}"}}', "raw": QUOTED}),
    ((BACKSLASHED,), {"path": f"C:\\{BACKSLASHED}\\x", "same": BACKSLASHED}),
    ((UNICODE,), {"msg": f"clé {UNICODE} fin", "emoji": "☃", "cjk": "漢字"}),
    ((SCRIPT,), {"html": f"<p>{SCRIPT}</p>", "close": "</"}),
    ((TOKEN, SHORT_INSIDE), {"both": f"{TOKEN} and {SHORT_INSIDE} and t{SHORT_INSIDE}"}),
    ((CONTROL,), {"text": f">>{CONTROL}<<", "other": "tab\tonly"}),
    ((SLASHED,), {"url": f"https://x.test/{SLASHED}?q=1"}),
    # A secret spelled like part of an escape: "n" + digits inside "\n...". The value holds a
    # newline, not the secret, so nothing is masked; a real backslash + "n" is masked.
    (("n1234567",), {"newline": "\n1234567", "backslash_n": "\\n1234567", "plain": "n1234567"}),
    (("u0041bcdef",), {"escaped": "\x01u0041bcdef", "ctrl": "\x01", "plain": "xu0041bcdefx"}),
    # Secrets that look like JSON outside strings (numbers, literals) are not masked there.
    (("1234567",), {"number": 1234567, "string": "1234567", "list": [1234567, "a1234567"]}),
    (("true,false",), [True, False, "true,false"]),
    (("null-token",), None),
    ((TOKEN,), []),
    ((TOKEN,), ""),
    ((TOKEN,), 3.5),
    ((TOKEN,), ("tuple", TOKEN)),
    ((), {"nothing": "registered"}),
]


@pytest.mark.parametrize(("secrets", "value"), CASES)
def test_equals_the_walk(secrets: tuple[str, ...], value: Any) -> None:
    for secret in secrets:
        register_secret(secret)
    dumped = dumps_redacted(value)
    assert dumped == _walk(value)
    json.loads(dumped)  # always valid JSON
    for secret in secrets:
        # No secret survives inside any string of the result.
        assert all(secret not in s for s in _strings(json.loads(dumped)))


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def test_masks_quotes_backslashes_unicode_and_script_closers() -> None:
    for secret in (QUOTED, BACKSLASHED, UNICODE, SCRIPT, CONTROL):
        register_secret(secret)
    value = {"a": QUOTED, "b": BACKSLASHED, "c": UNICODE, "d": SCRIPT, "e": CONTROL}
    assert json.loads(dumps_redacted(value)) == {k: MASK for k in value}


def test_a_secret_inside_another_is_masked_whole_with_the_longer() -> None:
    register_secret(SHORT_INSIDE)
    register_secret(TOKEN)
    assert json.loads(dumps_redacted([TOKEN, SHORT_INSIDE])) == [MASK, MASK]
    # Not "tok-***REDACTED***2b": the longer secret goes first, whatever the register order.
    assert "2b" not in dumps_redacted(TOKEN)


def test_overlapping_secrets_of_equal_length_mask_the_same_way_as_the_walk() -> None:
    # Equal lengths, overlapping: which goes first decides what stays visible. It must not
    # depend on set order (hash seeds differ between processes), and must match the walk.
    register_secret("abcdefg")
    register_secret("bcdefgh")
    value = {"k": "xabcdefghx"}
    assert dumps_redacted(value) == _walk(value)


def test_equal_length_order_does_not_depend_on_the_hash_seed() -> None:
    code = (
        "from connector.redact import register_secret, dumps_redacted, redact\n"
        "register_secret('abcdefg'); register_secret('bcdefgh')\n"
        "print(dumps_redacted('xabcdefghx'), redact('xabcdefghx'))\n"
    )
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        outputs.add(out.stdout)
    assert len(outputs) == 1, outputs


class _Carrier:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __str__(self) -> str:
        return f'<carrier "{self.secret}">'


def test_values_serialised_through_default_str_are_masked() -> None:
    register_secret(QUOTED)
    register_secret(TOKEN)
    value = {
        "object": _Carrier(QUOTED),
        "path": Path("/tmp") / TOKEN,
        "when": datetime(2026, 1, 2, tzinfo=UTC),
        "bytes": TOKEN.encode(),
        "set": {TOKEN},
    }
    dumped = dumps_redacted(value)
    loaded = json.loads(dumped)
    assert loaded["object"] == f'<carrier "{MASK}">'
    assert loaded["path"] == f"/tmp/{MASK}"
    assert loaded["when"] == "2026-01-02 00:00:00+00:00"
    assert loaded["bytes"] == f"b'{MASK}'"
    assert loaded["set"] == "{'" + MASK + "'}"
    assert TOKEN not in dumped and QUOTED not in dumped and 'quo\\"ted' not in dumped
    # The walk alone could not even serialise these.
    with pytest.raises(TypeError):
        _walk(value)


def test_non_string_keys_carrying_a_secret_are_masked() -> None:
    # json turns an int key into a string; the walk left int keys alone (so it would have
    # printed this one), the text pass masks it: stricter, never weaker.
    register_secret("12345678")
    assert json.loads(dumps_redacted({12345678: "v"})) == {MASK: "v"}


def test_nothing_registered_is_plain_compact_json() -> None:
    value = {"a": [1, 2.5, None, True], "b": "é</"}
    assert dumps_redacted(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_registering_later_applies_to_later_dumps() -> None:
    value = {"t": TOKEN}
    assert dumps_redacted(value) == '{"t":"' + TOKEN + '"}'
    register_secret(TOKEN)
    assert dumps_redacted(value) == '{"t":"' + MASK + '"}'
    forget_secrets()
    assert TOKEN in dumps_redacted(value)
