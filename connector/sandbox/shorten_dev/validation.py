"""Checking request bodies and query strings; every complaint names its field."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from connector.sandbox.shorten_dev.errors import ApiError, BadRequest
from connector.sandbox.shorten_dev.store import SORT_FIELDS, NewLink

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_BULK",
    "check_slug_path",
    "parse_link",
    "parse_list_query",
    "parse_period",
    "read_json",
]

MAX_BODY_BYTES = 1024 * 1024
MAX_BULK = 500
MAX_TAGS = 3
MAX_TAG_CHARS = 50
MAX_URL_CHARS = 2048
PERIODS = ("7d", "30d", "90d")
_SLUG_RE = re.compile(r"[A-Za-z0-9_-]{3,50}")
_LINK_FIELDS = ("destination_url", "custom_slug", "tags")
# Hosts judged unsafe at creation: the link is created `flagged` and never redirects.
_THREATS = (
    ("malware", "MALWARE"),
    ("phishing", "SOCIAL_ENGINEERING"),
    ("unwanted", "UNWANTED_SOFTWARE"),
)


async def read_json(request: Request) -> Any:
    """The body as JSON, refusing bodies over 1 MB (413) and anything not JSON (400)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "Request body exceeds 1 MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "Request body exceeds 1 MB")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise BadRequest({"body": "a JSON object is required"}, "Request body is empty")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise BadRequest({"body": "not valid UTF-8"}, "Malformed JSON body") from None
    except ValueError as exc:
        raise BadRequest({"body": f"invalid JSON: {exc}"}, "Malformed JSON body") from None
    except RecursionError:
        raise BadRequest({"body": "JSON nested too deeply"}, "Malformed JSON body") from None


def _text_problem(value: str) -> str | None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an invalid unicode code point (lone surrogate)"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "contains control characters"
    return None


def _threat(host: str) -> str | None:
    for word, threat in _THREATS:
        if word in host:
            return threat
    return None


def parse_link(item: Any, prefix: str = "") -> tuple[NewLink | None, dict[str, str]]:
    """A create-link body -> NewLink, or the field errors (keys prefixed, e.g. `links[2].tags`)."""
    errors: dict[str, str] = {}
    if not isinstance(item, dict):
        return None, {prefix.rstrip(".") or "body": "must be a JSON object"}
    for key in item:
        if key not in _LINK_FIELDS:
            errors[f"{prefix}{key}"] = f"unknown field; expected one of {', '.join(_LINK_FIELDS)}"

    url = item.get("destination_url")
    host = ""
    if url is None:
        errors[f"{prefix}destination_url"] = "is required"
    elif not isinstance(url, str):
        errors[f"{prefix}destination_url"] = "must be a string"
    elif problem := _text_problem(url):
        errors[f"{prefix}destination_url"] = problem
    elif len(url) > MAX_URL_CHARS:
        errors[f"{prefix}destination_url"] = f"must be at most {MAX_URL_CHARS} characters"
    else:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            parts, host = None, ""
        if parts is None or parts.scheme not in ("http", "https") or not host or " " in url:
            errors[f"{prefix}destination_url"] = "must be an absolute http or https URL"

    slug = item.get("custom_slug")
    if slug is not None and (not isinstance(slug, str) or not _SLUG_RE.fullmatch(slug)):
        errors[f"{prefix}custom_slug"] = "must be 3-50 characters: letters, digits, '-' or '_'"

    tags = item.get("tags", [])
    if tags is None:
        tags = []
    if not isinstance(tags, list):
        errors[f"{prefix}tags"] = "must be an array of strings"
    elif len(tags) > MAX_TAGS:
        errors[f"{prefix}tags"] = f"at most {MAX_TAGS} tags"
    else:
        for i, tag in enumerate(tags):
            where = f"{prefix}tags[{i}]"
            if not isinstance(tag, str) or not tag.strip():
                errors[where] = "must be a non-empty string"
            elif len(tag) > MAX_TAG_CHARS:
                errors[where] = f"must be at most {MAX_TAG_CHARS} characters"
            elif problem := _text_problem(tag):
                errors[where] = problem

    if errors or not isinstance(url, str):
        return None, errors
    return NewLink(url, slug, list(tags), _threat(host)), {}


def check_slug_path(slug: str) -> None:
    """A slug from the path that cannot exist is simply not found."""
    if not _SLUG_RE.fullmatch(slug):
        raise ApiError(404, "Link not found")


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest({name: f"must be an integer, got {raw!r}"}) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest({name: f"must be {bound}, got {value}"})
    return value


def parse_list_query(request: Request) -> tuple[int, int, str, str]:
    errors: dict[str, str] = {}
    page = limit = 0
    try:
        page = _int_param(request, "page", 1, 1, None)
    except BadRequest as exc:
        errors.update(exc.details or {})
    try:
        limit = _int_param(request, "limit", 10, 1, 50)
    except BadRequest as exc:
        errors.update(exc.details or {})
    sort = request.query_params.get("sort") or "created_at"
    if sort not in SORT_FIELDS:
        errors["sort"] = f"must be one of {', '.join(SORT_FIELDS)}"
    order = (request.query_params.get("order") or "desc").lower()
    if order not in ("asc", "desc"):
        errors["order"] = "must be asc or desc"
    if errors:
        raise BadRequest(errors)
    return page, limit, sort, order


def parse_period(request: Request) -> str:
    period = request.query_params.get("period") or "7d"
    if period not in PERIODS:
        raise BadRequest({"period": f"must be one of {', '.join(PERIODS)}"})
    return period
