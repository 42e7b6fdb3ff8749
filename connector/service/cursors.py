"""The service's page cursors: opaque to clients (URL-safe base64 of what the page ended
at), checked when they come back; a cursor this service did not give out is a 422 problem
naming the query parameter that carried it."""

from __future__ import annotations

import base64
import binascii
import re

from connector.errors import FieldError
from connector.service.problems import ServiceProblem

__all__ = ["after_item", "before_item", "decode", "encode", "item_position"]

#: an item cursor: the page after index N ("N"), or the page before it ("bN")
_ITEM = re.compile(r"(b?)(\d{1,18})")


def bad_cursor(param: str, why: str = "not a cursor this service gave out") -> ServiceProblem:
    return ServiceProblem(422, f"{param}: {why}", errors=[FieldError(f"query.{param}", why)])


def encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode(text: str | None, param: str) -> str | None:
    """What `encode` was given, from the cursor in query parameter `param` (None: none)."""
    if text is None:
        return None
    try:
        return base64.urlsafe_b64decode(text.encode() + b"==").decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise bad_cursor(param) from None


def after_item(index: int) -> str:
    """The cursor of the page of items after index `index`."""
    return encode(str(index))


def before_item(index: int) -> str:
    """The cursor of the page of items just before index `index`."""
    return encode(f"b{index}")


def item_position(text: str | None, param: str) -> tuple[bool, int] | None:
    """An item cursor as (backwards, index); None for the first page."""
    value = decode(text, param)
    if value is None:
        return None
    found = _ITEM.fullmatch(value)
    if found is None:
        raise bad_cursor(param)
    return bool(found.group(1)), int(found.group(2))
