"""Bitlink verdicts are remembered for short plain strings: the cached answers must be the
uncached ones, errors included, and other values must not share a cache entry."""

from __future__ import annotations

import random
from urllib.parse import quote

import pytest

from connector.errors import InvalidInput
from connector.http import paths
from connector.http.paths import fill_path, normalize_bitlink

_ALPHABET = "bitly.com/AZaz09-_ %?#\\:/.\u00e9\u200b\t"


def _outcome(func: object, value: object) -> tuple[str, str]:
    try:
        return ("ok", func(value))  # type: ignore[operator]
    except InvalidInput as exc:
        return ("error", str(exc))


def _random_links(n: int) -> list[str]:
    rng = random.Random(4096)
    out = ["bit.ly/abc", " https://Bit.ly/abc/ ", "bit.ly/a/b", "", "bit.ly/ab%2F", "x" * 600]
    for _ in range(n):
        out.append("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 24))))
        out.append(f"{rng.choice(['bit.ly', 'j.mp', 'Go.Example.com'])}/{rng.randint(0, 99999)}")
    return out


def test_cached_answers_are_the_uncached_ones_twice() -> None:
    for value in _random_links(1500):
        expected = _outcome(paths._normalize, value)
        assert _outcome(normalize_bitlink, value) == expected, value
        assert _outcome(normalize_bitlink, value) == expected, value  # now from the cache


def test_fill_path_cached_segments_equal_quoting_the_normalised_link() -> None:
    for value in _random_links(500):
        kind, result = _outcome(paths._normalize, value)
        if kind == "error":
            with pytest.raises(InvalidInput):
                fill_path("/bitlinks/{bitlink}", {"bitlink": value})
            continue
        domain, hash_ = result.split("/")
        expected = f"/bitlinks/{quote(domain, safe='')}/{quote(hash_, safe='')}"
        assert fill_path("/bitlinks/{bitlink}", {"bitlink": value}) == expected
        assert fill_path("/bitlinks/{bitlink}", {"bitlink": value}) == expected


def test_only_short_plain_strings_are_cached() -> None:
    paths._normalized.cache_clear()
    normalize_bitlink("bit.ly/abc")
    normalize_bitlink(" " * 600 + "bit.ly/abc")  # valid, but too long to keep
    assert paths._normalized.cache_info().currsize == 1

    class Text(str):
        pass

    # A str subclass equal to a cached string still gets its own check.
    assert normalize_bitlink(Text("bit.ly/abc")) == "bit.ly/abc"
    assert paths._normalized.cache_info().currsize == 1
    with pytest.raises(InvalidInput):
        normalize_bitlink(1)


def test_errors_are_not_cached() -> None:
    paths._normalized.cache_clear()
    for _ in range(2):
        with pytest.raises(InvalidInput, match="query"):
            normalize_bitlink("bit.ly/abc?x=1")
    assert paths._normalized.cache_info().currsize == 0


def _fill_by_regex(template: str, params: dict[str, object]) -> str:
    """fill_path as it was: re.sub over the placeholders."""
    return paths._PLACEHOLDER.sub(lambda m: paths._segment(m.group(1), params), template)


def test_fill_path_equals_the_regex_substitution() -> None:
    rng = random.Random(77)
    pieces = ["/", "bitlinks", "{bitlink}", "{slug}", "{id}", "{missing}", "{}", "{9x}", "{a-b}",
              "}", "{", "clicks", "{{bitlink}}", "%7B", ""]  # fmt: skip
    params: dict[str, object] = {
        "bitlink": "bit.ly/abc", "slug": "a b/c", "id": 7, "none": None,
    }  # fmt: skip
    for _ in range(3000):
        template = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        assert _outcome(lambda t: fill_path(t, params), template) == _outcome(
            lambda t: _fill_by_regex(t, params), template
        ), template
