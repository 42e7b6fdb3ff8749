"""QR codes of bitlinks: real, scannable images (segno), returned as base64 data URIs."""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
from functools import lru_cache
from typing import Any

import segno

from connector.sandbox.bitly.errors import field_error
from connector.sandbox.bitly.formats import bitly_time
from connector.sandbox.bitly.links import bitlink_key, link_by_key
from connector.sandbox.bitly.registry import Call, Reply, handles

__all__ = ["qr_image"]

RESOURCE = "bitlinks"
_COLOR_RE = re.compile(r"#?([0-9a-fA-F]{6})")
_MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


@lru_cache(maxsize=256)
def qr_image(content: str, image_format: str, color: str) -> bytes:
    """The QR code of `content` as PNG or SVG bytes, dark modules in `#color`."""
    code = segno.make(content, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind=image_format, scale=10, border=4, dark=f"#{color}")
    return out.getvalue()


def _data_uri(content: str, image_format: str, color: str) -> str:
    encoded = base64.b64encode(qr_image(content, image_format, color)).decode("ascii")
    return f"data:{_MEDIA[image_format]};base64,{encoded}"


def _customization(call: Call, current: dict[str, Any]) -> dict[str, Any]:
    out = dict(current)
    if "color" in call.body:
        match = _COLOR_RE.fullmatch(call.body["color"])
        if match is None:
            raise field_error("color", "must be a hex RGB colour such as 1133ff", RESOURCE)
        out["color"] = match.group(1).lower()
    if "image_format" in call.body:
        out["image_format"] = call.body["image_format"]
    if "exclude_bitly_logo" in call.body:
        out["exclude_bitly_logo"] = call.body["exclude_bitly_logo"]
    if call.body.get("logo_image_guid"):
        # The sandbox's groups have no uploaded logos (GET /groups/{guid}/qr/images is empty).
        raise field_error("logo_image_guid", "no such logo image in this group", RESOURCE)
    if "is_hidden" in call.body and not isinstance(call.body["is_hidden"], bool):
        raise field_error("is_hidden", "must be true or false", RESOURCE)
    return out


_DEFAULT: dict[str, Any] = {"color": "000000", "image_format": "png", "exclude_bitly_logo": False}


def _stored(call: Call, key: str) -> sqlite3.Row | None:
    return call.conn.execute("SELECT * FROM qr_codes WHERE link_key = ?", (key,)).fetchone()


def _body(
    call: Call, link: sqlite3.Row, stored: sqlite3.Row | None, image_format: str | None = None
) -> dict[str, Any]:
    custom: dict[str, Any] = (
        json.loads(stored["customization"]) if stored is not None else dict(_DEFAULT)
    )
    created = stored["created"] if stored is not None else link["created_ts"]
    modified = stored["modified"] if stored is not None else link["created_ts"]
    fmt = image_format or custom["image_format"]
    return {
        "id": link["key"],
        "link": f"https://{link['key']}",
        "group_guid": link["group_guid"],
        "qr_code": _data_uri(f"https://{link['key']}", fmt, custom["color"]),
        "customization": custom,
        "is_customized": custom != _DEFAULT,
        "is_hidden": bool(stored["is_hidden"]) if stored is not None else False,
        "has_stored": stored is not None,
        "logo_image_url": "",
        "created": bitly_time(created),
        "modified": bitly_time(modified),
    }


def _save(call: Call, link: sqlite3.Row, current: sqlite3.Row | None) -> sqlite3.Row:
    base = json.loads(current["customization"]) if current is not None else dict(_DEFAULT)
    custom = _customization(call, base)
    hidden = call.body.get("is_hidden", bool(current["is_hidden"]) if current else False)
    created = current["created"] if current is not None else call.now
    call.conn.execute(
        "INSERT INTO qr_codes VALUES (?, ?, ?, ?, ?) ON CONFLICT (link_key) DO UPDATE SET"
        " customization = excluded.customization, is_hidden = excluded.is_hidden,"
        " modified = excluded.modified",
        (link["key"], json.dumps(custom), int(hidden), created, call.now),
    )
    row = _stored(call, link["key"])
    assert row is not None
    return row


@handles("getBitlinkQRCode")
def get_qr(call: Call) -> Reply:
    link = link_by_key(call, bitlink_key(call.path["bitlink"]))
    fmt = call.query.get("image_format") if "image_format" in dict(call.raw_query) else None
    return None, _body(call, link, _stored(call, link["key"]), fmt)


@handles("createBitlinkQRCode")
def create_qr(call: Call) -> Reply:
    link = link_by_key(call, bitlink_key(call.path["bitlink"]))
    return 201, _body(call, link, _save(call, link, _stored(call, link["key"])))


@handles("updateBitlinkQRCode")
def update_qr(call: Call) -> Reply:
    link = link_by_key(call, bitlink_key(call.path["bitlink"]))
    return None, _body(call, link, _save(call, link, _stored(call, link["key"])))
