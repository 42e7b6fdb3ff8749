"""Reading a request before any handler sees it: token, body size, JSON, odd strings."""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import Request

from connector.sandbox.bitly.errors import BitlyError, bad_request, field_error
from connector.vendor.facts import FieldProblem

__all__ = ["MAX_BODY_BYTES", "check_token", "read_json_body"]

MAX_BODY_BYTES = 1024 * 1024


def check_token(request: Request, tokens: frozenset[str]) -> None:
    """Bearer token or 403 FORBIDDEN (Bitly declares no 401)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token:
        # compare_digest against each accepted token: no timing hint about a near miss
        matched = False
        for accepted in tokens:
            matched |= hmac.compare_digest(token.encode(), accepted.encode())
        if matched:
            return
    raise BitlyError(403, "FORBIDDEN")


def _too_large() -> BitlyError:
    return BitlyError(
        413,
        "REQUEST_ENTITY_TOO_LARGE",
        f"the request body is over {MAX_BODY_BYTES} bytes",
    )


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise field_error("Content-Length", "must be a number of bytes", code="invalid")
        if int(declared) > MAX_BODY_BYTES:
            raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _bad_string(value: Any, where: str) -> FieldProblem | None:
    """First string that cannot be stored: lone surrogates (no UTF-8 form) or NUL."""
    if isinstance(value, str):
        if "\x00" in value:
            return FieldProblem(where, "must not contain NUL characters", "invalid")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return FieldProblem(where, "contains an unpaired surrogate", "invalid")
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _bad_string(key, f"{where}.{key}" if where else "body") or _bad_string(
                item, f"{where}.{key}" if where else key
            )
            if problem:
                return problem
    if isinstance(value, list):
        for i, item in enumerate(value):
            problem = _bad_string(item, f"{where}[{i}]")
            if problem:
                return problem
    return None


async def read_json_body(request: Request, required: bool) -> Any:
    """The decoded JSON body, None when there is none and none is required."""
    raw = await _read_body(request)
    if not raw.strip():
        if required:
            raise field_error("body", "a JSON object body is required", code="missing")
        return None
    try:
        text = raw.decode("utf-8")
        body = json.loads(text)
    except UnicodeDecodeError:
        raise BitlyError(
            400,
            "INVALID_BODY",
            "the body is not UTF-8",
            errors=[FieldProblem("body", "is not UTF-8", "invalid")],
        ) from None
    except (ValueError, RecursionError) as exc:
        detail = str(exc)[:200] if not isinstance(exc, RecursionError) else "nested too deeply"
        raise BitlyError(
            400,
            "INVALID_BODY",
            f"the body is not valid JSON: {detail}",
            errors=[FieldProblem("body", "is not valid JSON", "invalid")],
        ) from None
    if body is None:
        # `null` parses to None, which callers read as "no body": refuse it here
        raise bad_request([FieldProblem("body", "must be a JSON object, not null", "invalid")])
    problem = _bad_string(body, "")
    if problem:
        raise bad_request([problem])
    return body
