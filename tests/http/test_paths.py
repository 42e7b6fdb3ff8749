"""Bitlink normalisation and path encoding: no input reaches another endpoint."""

from __future__ import annotations

import httpx
import pytest

from connector.errors import InvalidInput
from connector.http.paths import encode_segment, fill_path, normalize_bitlink


@pytest.mark.parametrize(
    "raw",
    [
        "bit.ly/abc",
        "https://bit.ly/abc",
        "http://bit.ly/abc",
        "HTTPS://bit.ly/abc",
        "bit.ly/abc/",
        " bit.ly/abc ",
        "https://bit.ly/abc/",
        "BIT.LY/abc",
    ],
)
def test_normalize_accepts_pasted_forms(raw: str) -> None:
    assert normalize_bitlink(raw) == "bit.ly/abc"


def test_normalize_keeps_hash_case_and_branded_domains() -> None:
    assert (
        normalize_bitlink("https://go.example.com/Summer-Sale_1") == "go.example.com/Summer-Sale_1"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("bit.ly/x/../../user", "segments"),
        ("bit.ly/abc?x=1", "'?'"),
        ("bit.ly/abc#frag", "'#'"),
        ("bit.ly%2Fabc", "percent"),
        ("bit.ly/a%2fb", "percent"),
        ("bit.ly\\abc", "backslash"),
        ("bit.ly/", "empty"),
        ("bit.ly", "segments"),
        ("bit.ly/a/b", "segments"),
        ("bit.ly/a b", "spaces"),
        ("", "empty"),
        ("   ", "empty"),
        ("localhost/abc", "not a domain"),
        ("-bad-.com/abc", "not a domain"),
        ("../abc", "not a domain"),
        ("bit.ly/..", "letters, digits"),
        ("bit.ly/ab.c", "letters, digits"),
        ("https:///abc", "not a domain"),
        ("user@bit.ly/abc", "not a domain"),
        ("bit.ly:8080/abc", "not a domain"),
    ],
)
def test_normalize_rejects_with_the_value_named(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_bitlink(raw)
    message = str(info.value)
    assert reason in message
    assert "invalid bitlink" in message
    assert repr(raw)[:20] in message or repr(raw.strip())[:20] in message


def test_normalize_truncates_a_long_value_in_the_message() -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_bitlink("bit.ly/" + "x" * 5000 + "?")
    assert len(str(info.value)) < 300
    assert "..." in str(info.value)


@pytest.mark.parametrize("value", [None, 7, ["bit.ly/abc"]])
def test_normalize_rejects_non_strings(value: object) -> None:
    with pytest.raises(InvalidInput, match="must be a string"):
        normalize_bitlink(value)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("abc", "abc"),
        ("a/b", "a%2Fb"),
        ("a?b=1", "a%3Fb%3D1"),
        ("a#b", "a%23b"),
        ("../user", "..%2Fuser"),
        ("a%2Fb", "a%252Fb"),
        ("é x", "%C3%A9%20x"),
        (42, "42"),
    ],
)
def test_encode_segment(value: object, encoded: str) -> None:
    assert encode_segment(value, name="slug") == encoded


@pytest.mark.parametrize("value", ["", ".", "..", " ", None, True, {"a": 1}])
def test_encode_segment_refuses_dot_segments_and_non_scalars(value: object) -> None:
    with pytest.raises(InvalidInput, match="'slug'"):
        encode_segment(value, name="slug")


def test_fill_path_sends_bitlink_as_two_segments() -> None:
    assert (
        fill_path("/bitlinks/{bitlink}/clicks", {"bitlink": "https://bit.ly/abc/"})
        == "/bitlinks/bit.ly/abc/clicks"
    )


def test_fill_path_names_a_missing_parameter() -> None:
    with pytest.raises(InvalidInput, match="'group_guid' has no value"):
        fill_path("/groups/{group_guid}", {})


@pytest.mark.parametrize("slug", ["../../user", "x?admin=1", "x#y", "a/b/c", "%2e%2e"])
def test_encoded_paths_stay_on_their_endpoint_through_httpx(slug: str) -> None:
    # What httpx finally puts on the wire, not just what fill_path returns.
    path = fill_path("/links/{slug}/analytics", {"slug": slug})
    url = httpx.URL("https://shorten.test/api/v1/").join(path.lstrip("/"))
    assert url.raw_path.startswith(b"/api/v1/links/")
    assert url.raw_path.endswith(b"/analytics")
    assert url.raw_path.count(b"/") == 5
    assert url.query == b""
    assert url.fragment == ""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("bit.ly/abc%2f..", "percent"),
        ("bit.ly/ab c", "spaces"),
        ("bit.ly/ab\tc", "spaces"),
        ("bit.ly/abc\r\nX-Injected: 1", "spaces"),
        ("bit.ly//abc", "segments"),
        ("bit.ly/abc?x", "'?'"),
        ("https://bit.ly/abc#frag", "'#'"),
        ("javascript:alert(1)", "only http:// or https://"),
        ("JavaScript://bit.ly/abc", "only http:// or https://"),
        ("ftp://bit.ly/abc", "only http:// or https://"),
        ("https://https://bit.ly/abc", "only http:// or https://"),
        ("//bit.ly/abc", "segments"),
        ("b\u0456t.ly/abc", "not a domain"),  # CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I
        ("bit.ly/\u0430bc", "letters, digits"),  # CYRILLIC SMALL LETTER A
        ("bit.ly/\uff41bc", "letters, digits"),  # FULLWIDTH LATIN SMALL LETTER A
        ("bit.ly/abc\u200b", "letters, digits"),  # ZERO WIDTH SPACE
        ("bit.ly/ab\x00c", "letters, digits"),
        ("bit.ly/abc;x", "letters, digits"),
        ("bit.ly./abc", "not a domain"),
    ],
)
def test_normalize_rejects_tricks(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_bitlink(raw)
    assert reason in info.value.message


def test_normalize_lowercases_the_domain_only() -> None:
    assert normalize_bitlink("HTTPS://BIT.LY/AbC") == "bit.ly/AbC"
