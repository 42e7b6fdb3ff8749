"""Deterministic generators of valid-looking and hostile request parts, driven by JSON Schemas.

Everything takes a `random.Random`, so a seed reproduces a whole fuzz run. Paths and query
strings are produced already percent-encoded (bytes on the wire); bodies as raw bytes, since
half of them are not JSON at all.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

# -- path parameters --------------------------------------------------------------------------

#: Raw (percent-encoded) replacements for one path segment.
SEGMENT_TRICKS: tuple[bytes, ...] = (
    b"..",
    b"%2e%2e",
    b".",
    b"%2F",
    b"x%2Fy",
    b"x%2F..%2F..%2Fuser",
    b"%5C..%5Cuser",
    b"%00",
    b"a%00b",
    b"A" * 3000,
    b"%F0%9F%98%80",  # emoji
    b"%E2%80%AE%E2%80%8Fabc",  # RTL override + RTL mark
    b"%ED%A0%80",  # a lone surrogate, UTF-8-encoded (invalid UTF-8)
    b"%5Cud800",  # the JSON escape of a lone surrogate, as text
    b"%20",
    b"a%20b",
    b"+",
    b"%",
    b"%zz",
    b"%C3%A9t%C3%A9",
    b"%FF%FE",
    b"%EF%BB%BFabc",  # byte-order mark
    b"a%0D%0AX-Injected:%201",
    b"%3F",
    b"%23",
    b"a;b=c",
    b"~",
    b"-1",
    b"99999999999999999999999",
)

#: Raw tails that try to leave the template (`bit.ly/x/../../user`).
PATH_ESCAPES: tuple[bytes, ...] = (
    b"/../../user",
    b"/%2e%2e/%2e%2e/user",
    b"/",
    b"//",
    b"/./",
    b"%2F..%2F..%2Fuser",
)


def mutate_path_value(rng: random.Random, value: str, two_segments: bool) -> tuple[bytes, str]:
    """A hostile raw replacement for a path parameter whose good value is `value`."""
    good = quote(value, safe="/").encode()
    trick = rng.choice(SEGMENT_TRICKS)
    roll = rng.random()
    if roll < 0.15:
        escape = rng.choice(PATH_ESCAPES)
        return good + escape, f"path escape {escape!r}"
    if two_segments and roll < 0.55:
        domain, _, tail = good.partition(b"/")
        if rng.random() < 0.5:
            return domain + b"/" + trick, f"hash={trick[:20]!r}"
        return trick + b"/" + tail, f"domain={trick[:20]!r}"
    if roll < 0.7:
        return good + trick, f"suffix {trick[:20]!r}"
    return trick, f"value={trick[:20]!r}"


# -- query strings ----------------------------------------------------------------------------

_WRONG_INTEGERS = (
    "abc",
    "1.5",
    "1e3",
    "0x10",
    "",
    "-1",
    "-2",
    "0",
    "-99999999999999999999",
    "9" * 400,
    "NaN",
    "Infinity",
    " 7",
    "%D9%A3",  # ARABIC-INDIC DIGIT THREE
    "%EF%BC%93",  # FULLWIDTH DIGIT THREE
    "true",
    "%00",
)
_WRONG_STRINGS = (
    "",
    "DAY",
    "%00",
    "x" * 5000,
    "%ED%A0%80",
    "%F0%9F%98%80",
    "%E2%80%AE",
    "9999-12-15T00:00:00%2B0000",
    "0000-01-01",
    "1969-12-31T23:59:59Z",
    "2026-13-45",
    "-1",
    "1e308",
    "null",
    "%zz",
)


def query_value(rng: random.Random, schema: Mapping[str, Any]) -> str:
    """A plausible raw value for a query parameter."""
    if "enum" in schema:
        return quote(str(rng.choice(schema["enum"])))
    kind = schema.get("type")
    if kind == "integer":
        low = schema.get("minimum", 1)
        high = schema.get("maximum", low + 40)
        return str(rng.randint(low, high))
    if kind == "boolean":
        return rng.choice(("true", "false"))
    if kind == "array":
        return quote(str(sample(rng, schema.get("items", {"type": "string"}), "item")))
    return quote(rng.choice(("sale", "spring", "bit.ly", "2026-01-01T00:00:00+0000", "x")))


def mutate_query(
    rng: random.Random, params: Mapping[str, Mapping[str, Any]], good: list[tuple[str, str]]
) -> tuple[bytes, str]:
    """A hostile raw query string for an operation declaring `params`."""
    pairs = list(good)
    names = list(params) or ["unit", "size", "page"]
    name = rng.choice(names)
    schema = params.get(name, {})
    roll = rng.random()
    if roll < 0.35:
        pool = _WRONG_INTEGERS if schema.get("type") in ("integer", "number") else _WRONG_STRINGS
        value = rng.choice(pool + _WRONG_STRINGS)
        pairs = [(k, v) for k, v in pairs if k != name] + [(name, value)]
        note = f"{name}={value[:20]!r}"
    elif roll < 0.5:
        pairs += [(name, query_value(rng, schema)), (name, rng.choice(_WRONG_INTEGERS))]
        note = f"repeated {name}"
    elif roll < 0.6:
        pairs += [(name, "1")] * rng.choice((50, 800))
        note = f"{name} repeated many times"
    elif roll < 0.7:
        raw = rng.choice((b"&&&=", b"=", b"a", b"%", b"&" + name.encode(), b"a=b=c&=x"))
        return _encode(pairs) + b"&" + raw, f"odd query {raw!r}"
    elif roll < 0.8:
        pairs.append(("q" * 200, "v" * 60_000))
        note = "huge unknown parameter"
    elif roll < 0.9:
        pairs.append((name + "%00", "1"))
        note = "NUL in a key"
    else:
        pairs = [(n, rng.choice(_WRONG_STRINGS + _WRONG_INTEGERS)) for n in names]
        note = "every parameter wrong"
    return _encode(pairs), note


def _encode(pairs: list[tuple[str, str]]) -> bytes:
    # values are already raw (percent-encoded) text
    return "&".join(f"{k}={v}" for k, v in pairs).encode("latin-1", "replace")


# -- JSON bodies ------------------------------------------------------------------------------


def sample(
    rng: random.Random,
    schema: Mapping[str, Any],
    name: str = "",
    hints: Mapping[str, Callable[[], Any]] | None = None,
) -> Any:
    """A value valid against a (resolved) schema, using `hints` for fields we know."""
    hints = hints or {}
    if name in hints:
        return hints[name]()
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "default" in schema and rng.random() < 0.3:
        return schema["default"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return {
            key: sample(rng, sub, key, hints)
            for key, sub in props.items()
            if key in required or key in hints or rng.random() < 0.3
        }
    if kind == "array":
        items = schema.get("items", {"type": "string"})
        count = rng.randint(schema.get("minItems", 0), min(schema.get("maxItems", 2), 2))
        return [sample(rng, items, name, hints) for _ in range(count)]
    if kind == "integer":
        return rng.randint(schema.get("minimum", 0), schema.get("maximum", 100))
    if kind == "number":
        return round(rng.uniform(0, 100), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return rng.choice(("fuzz", "Fuzz title", "t1", "über", "x" * 40))[: schema.get("maxLength", 50)]


_MALFORMED: tuple[bytes, ...] = (
    b"{",
    b'{"a": ',
    b"{'single': 'quotes'}",
    b'{"a": 1,}',
    b"[1, 2,]",
    b"{a: 1}",
    b'{"a": tru}',
    b'{"a": "unterminated}',
    b"\xff\xfe\x00{",
    b"\xef\xbb\xbf{}",  # BOM
    b'{"a": "\\x41"}',
    b'{"a": 01}',
    b"  ",
    b"",
    b"{} {}",
    b"\x00",
)
_TOP_LEVEL: tuple[bytes, ...] = (
    b"{}",
    b"{}",
    b"[]",
    b"[{}]",
    b'"text"',
    b"1",
    b"-0.5",
    b"null",
    b"true",
)
_ODD_VALUES: tuple[bytes, ...] = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-1e999",
    b"9" * 5000,
    b"1" * 4000,
    b'"\\ud800"',
    b'"\\udfff\\ud800"',
    b'"a\\u0000b"',
    b'"\\u202e\\u200f"',
    b'"\xf0\x9f\x98\x80"',
    b'"' + b"x" * 600_000 + b'"',
    b"[" * 10_000 + b"]" * 10_000,
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    b"{}",
    b"[]",
    b"null",
    b"true",
    b"0",
    b"-1",
    b'""',
    b'" "',
    b'"' + b"\\u00e9" * 2000 + b'"',
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _splice(body: Mapping[str, Any], field: str, raw_value: bytes) -> bytes:
    """The JSON object `body` with `field` set to the raw JSON text `raw_value`."""
    rest = {k: v for k, v in body.items() if k != field}
    head = _dumps(rest)[:-1]
    sep = b", " if rest else b""
    return head + sep + _dumps(field) + b": " + raw_value + b"}"


def mutate_body(
    rng: random.Random, schema: Mapping[str, Any] | None, good: Any
) -> tuple[bytes, str]:
    """A hostile raw body for an operation whose body schema is `schema` (good body `good`)."""
    props = list((schema or {}).get("properties", {})) or ["long_url", "name"]
    base: dict[str, Any] = dict(good) if isinstance(good, dict) else {}
    field = rng.choice(props)
    roll = rng.random()
    if roll < 0.12:
        raw = rng.choice(_MALFORMED)
        return raw, f"malformed {raw[:20]!r}"
    if roll < 0.2:
        raw = rng.choice(_TOP_LEVEL)
        return raw, f"top level {raw!r}"
    if roll < 0.5:
        raw = rng.choice(_ODD_VALUES)
        return _splice(base, field, raw), f"{field}={raw[:20]!r}"
    if roll < 0.58:
        deep = rng.choice((b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000))
        return deep, "10k-deep nesting at the top"
    if roll < 0.65:
        return _splice(base, "x", b'"' + b"y" * (1024 * 1024 + 10) + b'"'), "body over 1 MB"
    if roll < 0.75:
        extra = rng.choice(
            ({"unexpected": 1}, {"": ""}, {"\u202e": "rtl"}, {"a" * 500: None}, {"__proto__": {}})
        )
        return _dumps({**base, **extra}), f"extra field {next(iter(extra))[:10]!r}"
    if roll < 0.85:
        dup = _dumps(base)[:-1] + (b", " if base else b"") + _dumps(field) + b": 12345}"
        return dup, f"duplicate key {field}"
    if roll < 0.92:
        key = rng.choice((b'"\\ud800"', b'"a\\u0000"', b'"\xe2\x80\xae"'))
        head = _dumps(base)[:-1] + (b", " if base else b"")
        return head + key + b": 1}", f"odd key {key!r}"
    wrong = rng.choice(([], {}, 0, -1, 1.5, True, None, "", [None], {"a": [1]}, 2**70))
    return _dumps({**base, field: wrong}), f"{field} of wrong type {wrong!r}"


# -- headers ----------------------------------------------------------------------------------

_CONTENT_TYPES: tuple[bytes, ...] = (
    b"text/plain",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data",
    b"application/json; charset=latin-1",
    b"application/xml",
    b"",
    b"\xff\xfe",
)


def mutate_auth(rng: random.Random, token: str) -> tuple[tuple[bytes, bytes] | None, str]:
    """A missing or odd Authorization header (None: none at all)."""
    options: list[tuple[bytes, bytes] | None] = [
        None,
        (b"authorization", b""),
        (b"authorization", b"Bearer"),
        (b"authorization", b"Bearer "),
        (b"authorization", b"Bearer  " + b" " * 10),
        (b"authorization", b"Basic " + token.encode()),
        (b"authorization", b"Bearer wrong-token"),
        (b"authorization", b"Bearer " + token.encode() + b"x"),
        (b"authorization", b"Bearer " + token[:-1].encode()),
        (b"authorization", b"Bearer \xff\xfe\xe9"),
        (b"authorization", b"Bearer " + b"t" * 10_000),
        (b"authorization", token.encode()),
        (b"authorization", b"Bearer\t" + token.encode() + b"\x00"),
    ]
    header = rng.choice(options)
    return header, f"authorization {header[1][:24]!r}" if header else "no authorization"


def mutate_content_type(rng: random.Random) -> tuple[bytes, bytes]:
    return b"content-type", rng.choice(_CONTENT_TYPES)
