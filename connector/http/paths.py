"""Path building: every path parameter is percent-encoded, and bitlinks are normalised.

A value supplied by a user or a template must never reach a different endpoint: a slash,
`..`, `?` or `#` inside a parameter would otherwise rewrite the URL. Every parameter is
encoded as one opaque segment, except a bitlink, which is `domain/hash` and is sent as
exactly two segments after it has been validated here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from connector.errors import InvalidInput

__all__ = ["BITLINK_PARAMS", "encode_segment", "fill_path", "normalize_bitlink"]

#: path parameters whose value is a bitlink (`domain/hash`, two segments)
BITLINK_PARAMS = frozenset({"bitlink", "custom_bitlink"})

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# Bitly hashes and custom back-halves: letters, digits, '-' and '_'.
_HASH = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_SHOWN = 60


def _shown(value: str) -> str:
    """The value as quoted in an error message, truncated so a pasted essay stays readable."""
    text = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
    return repr(text)


def _is_hostname(domain: str) -> bool:
    if len(domain) > 253 or "." not in domain:
        return False
    return all(_HOST_LABEL.match(label) for label in domain.split("."))


def normalize_bitlink(value: Any) -> str:
    """`https://bit.ly/abc`, `bit.ly/abc/`, ` bit.ly/abc ` -> `bit.ly/abc`.

    Raises InvalidInput, naming the value, for anything that is not exactly a hostname and
    one hash: traversal (`bit.ly/x/../../user`), `?`, `#`, encoded slashes, backslashes,
    spaces, empty parts or extra segments.
    """
    # A loop item's bitlink is checked when its inputs are prepared and again when its path
    # is filled, and a loop repeats links: remember verdicts on short plain strings (errors
    # are not remembered; they are raised afresh each time).
    if type(value) is str and len(value) <= _CACHED_MAX:
        return _normalized(value)
    return _normalize(value)


_CACHED_MAX = 512  # characters: a valid bitlink is at most 253 + 1 + 200, before spaces


@lru_cache(maxsize=4096)
def _normalized(value: str) -> str:
    return _normalize(value)


@lru_cache(maxsize=4096)
def _bitlink_segments(value: str) -> str:
    domain, hash_ = _normalized(value).split("/")
    return f"{quote(domain, safe='')}/{quote(hash_, safe='')}"


def _normalize(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"a bitlink must be a string like 'bit.ly/abc1234', not {value!r}")
    text = value.strip()

    def bad(reason: str) -> InvalidInput:
        return InvalidInput(
            f"invalid bitlink {_shown(value)}: {reason}; "
            "expected 'domain/hash' like 'bit.ly/abc1234'"
        )

    if not text:
        raise bad("it is empty")
    lowered = text.lower()
    for prefix in ("https://", "http://"):
        if lowered.startswith(prefix):
            text = text[len(prefix) :]
            break
    if "://" in text or text.lower().startswith(("javascript:", "data:", "file:")):
        raise bad("only http:// or https:// may come before the domain")
    if "?" in text or "#" in text:
        raise bad("a query ('?') or fragment ('#') is not allowed")
    if "%" in text:
        raise bad("percent-encoded characters (such as an encoded slash) are not allowed")
    if "\\" in text:
        raise bad("backslashes are not allowed")
    if any(ch.isspace() for ch in text):
        raise bad("spaces are not allowed")
    parts = text.split("/")
    if len(parts) == 3 and parts[2] == "":
        parts.pop()  # one trailing slash, as browsers add
    if len(parts) != 2:
        raise bad(f"it has {len(parts)} path segments, not 2")
    domain, hash_ = parts
    if not hash_:
        raise bad("the hash after the domain is empty")
    if not _is_hostname(domain):
        raise bad(f"{_shown(domain)} is not a domain name")
    if not _HASH.match(hash_):
        raise bad("the hash may hold only letters, digits, '-' and '_'")
    return f"{domain.lower()}/{hash_}"


def encode_segment(value: Any, *, name: str) -> str:
    """One path segment: every reserved character encoded, `.`/`..`/empty refused."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise InvalidInput(f"path parameter {name!r} must be a string or number, not {value!r}")
    text = str(value)
    # Dot segments survive percent-encoding and would be collapsed by URL normalisation.
    if text.strip() in ("", ".", ".."):
        raise InvalidInput(f"path parameter {name!r} may not be {_shown(text)}")
    return quote(text, safe="")


def fill_path(template: str, params: Mapping[str, Any]) -> str:
    """Fill `{name}` placeholders of a path template with encoded parameter values."""
    if len(template) > _CACHED_MAX:
        texts, names = _split(template)
    else:
        texts, names = _split_cached(template)
    out = [texts[0]]
    # Left to right, as re.sub would: the first placeholder without a value is the error.
    for name, text in zip(names, texts[1:], strict=True):
        out.append(_segment(name, params))
        out.append(text)
    return "".join(out)


def _split(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`/a/{x}/b` -> (("/a/", "/b"), ("x",)): the text around the placeholders, and their names."""
    parts = _PLACEHOLDER.split(template)
    return tuple(parts[0::2]), tuple(parts[1::2])


# A path template is parsed once, not once per request (a loop sends thousands).
_split_cached = lru_cache(maxsize=256)(_split)


def _segment(name: str, params: Mapping[str, Any]) -> str:
    if name not in params or params[name] is None:
        raise InvalidInput(f"path parameter {name!r} has no value")
    value = params[name]
    if name in BITLINK_PARAMS:
        if type(value) is str and len(value) <= _CACHED_MAX:
            return _bitlink_segments(value)
        domain, hash_ = normalize_bitlink(value).split("/")
        return f"{quote(domain, safe='')}/{quote(hash_, safe='')}"
    return encode_segment(value, name=name)
