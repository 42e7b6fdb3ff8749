"""A small, fixed geography for sandbox clicks: where visitors come from and their cities.

The sandbox has no GeoIP database; a client address is hashed into this weighted list so the
same address always lands in the same place and the spread looks like real link traffic.
"""

from __future__ import annotations

import bisect
import hashlib
from itertools import accumulate

__all__ = ["CITIES", "COUNTRY_WEIGHTS", "city_for", "country_for_key"]

#: ISO 3166-1 alpha-2 code -> relative share of clicks (US-heavy, like most English links).
COUNTRY_WEIGHTS: dict[str, int] = {
    "US": 38,
    "GB": 9,
    "DE": 7,
    "IN": 7,
    "CA": 6,
    "FR": 5,
    "BR": 5,
    "JP": 4,
    "AU": 4,
    "ES": 3,
    "NL": 3,
    "IT": 2,
    "MX": 2,
    "SE": 2,
    "KR": 1,
    "SG": 1,
    "IE": 1,
}

#: country -> cities as (city, subregion, region); region is the state/province code Bitly shows.
CITIES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "US": (
        ("New York", "", "NY"),
        ("San Francisco", "San Francisco County", "CA"),
        ("Los Angeles", "Los Angeles County", "CA"),
        ("Chicago", "Cook County", "IL"),
        ("Austin", "Travis County", "TX"),
        ("Seattle", "King County", "WA"),
        ("Boston", "Suffolk County", "MA"),
    ),
    "GB": (
        ("London", "Greater London", "ENG"),
        ("Manchester", "Greater Manchester", "ENG"),
        ("Edinburgh", "", "SCT"),
    ),
    "DE": (("Berlin", "", "BE"), ("Munich", "Upper Bavaria", "BY"), ("Hamburg", "", "HH")),
    "IN": (("Bengaluru", "Bangalore Urban", "KA"), ("Mumbai", "", "MH"), ("Delhi", "", "DL")),
    "CA": (("Toronto", "", "ON"), ("Vancouver", "Metro Vancouver", "BC"), ("Montreal", "", "QC")),
    "FR": (("Paris", "", "IDF"), ("Lyon", "Rhône", "ARA")),
    "BR": (("São Paulo", "", "SP"), ("Rio de Janeiro", "", "RJ")),
    "JP": (("Tokyo", "", "13"), ("Osaka", "", "27")),
    "AU": (("Sydney", "", "NSW"), ("Melbourne", "", "VIC")),
    "ES": (("Madrid", "", "MD"), ("Barcelona", "", "CT")),
    "NL": (("Amsterdam", "", "NH"), ("Rotterdam", "", "ZH")),
    "IT": (("Milan", "", "25"), ("Rome", "", "62")),
    "MX": (("Mexico City", "", "CMX"), ("Guadalajara", "", "JAL")),
    "SE": (("Stockholm", "", "AB"),),
    "KR": (("Seoul", "", "11"),),
    "SG": (("Singapore", "", "01"),),
    "IE": (("Dublin", "", "D"),),
}

_COUNTRIES = tuple(COUNTRY_WEIGHTS)
_CUMULATIVE = tuple(accumulate(COUNTRY_WEIGHTS.values()))


def _digest_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "replace")).digest()[:8], "big")


def country_for_key(key: str) -> str:
    """The country a client address (or any stable key) maps to, weighted by COUNTRY_WEIGHTS."""
    point = _digest_int("country:" + key) % _CUMULATIVE[-1]
    return _COUNTRIES[bisect.bisect_right(_CUMULATIVE, point)]


def city_for(country: str, key: str) -> tuple[str, str, str]:
    """(city, subregion, region) for a visitor of `country`; empty strings when the country has
    no cities in the table (Bitly reports such clicks as having no city)."""
    cities = CITIES.get(country)
    if not cities:
        return ("", "", "")
    return cities[_digest_int("city:" + country + ":" + key) % len(cities)]
