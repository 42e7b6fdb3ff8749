"""What every Bitly sandbox answer must satisfy."""

from __future__ import annotations

from typing import Any

from connector.sandbox.bitly.real_traffic import as_described
from connector.vendor.facts import Operation, VendorFacts

from ._asgi import Reply, Req

#: Error statuses any operation may answer although the description does not list them all:
#: 400 for an invalid argument (Bitly names it), 403 FORBIDDEN for a missing or wrong token,
#: 413 for a body over 1 MB.
UNIVERSAL_ERRORS = frozenset({400, 403, 413})


def operation_of(facts: VendorFacts, req: Req) -> tuple[Operation | None, bool]:
    """The operation the request addresses (and whether its path is known for another method)."""
    path = req.path.decode("latin-1")
    if not path.startswith("/v4/"):
        return None, False
    match, known = facts.match_path(req.method, path[len("/v4") :])
    return (match.operation if match else None), known


def problems(facts: VendorFacts, req: Req, reply: Reply) -> list[str]:
    """Why `reply` is not an acceptable Bitly answer to `req` (empty when it is)."""
    op, known = operation_of(facts, req)
    status = reply.status
    if status >= 500:
        return [f"server error {status}: {reply.body[:300]!r}"]
    if status < 400:
        if op is None:
            return [] if req.path.startswith(b"/v4") is False else [f"{status} for no operation"]
        if str(status) not in op.responses or not str(status).startswith("2"):
            return [f"{status} is not a declared success of {op.operation_id}"]
        if status == 204:
            return [] if reply.body == b"" else ["204 with a body"]
        if not reply.content_type.startswith("application/json"):
            return [f"2xx content-type {reply.content_type!r}"]
        described = as_described(op.operation_id, reply.json())  # real traffic's form too
        return [f"response schema: {e}" for e in op.response_errors(status, described)[:5]]
    if status == 404 and reply.content_type.startswith("text/plain"):
        return [] if reply.body == b"404 page not found" else [f"plain 404 body {reply.body!r}"]
    if status == 405:
        if op is not None or not known:
            return [f"405 for a path {'matching' if op else 'unknown to'} the description"]
        ok = reply.content_type.startswith("text/plain") and reply.body == b"Method Not Allowed"
        return [] if ok else [f"405 body {reply.body!r}"]
    return _error_body_problems(op, status, reply)


def _error_body_problems(op: Operation | None, status: int, reply: Reply) -> list[str]:
    if not reply.content_type.startswith("application/json"):
        return [f"{status} content-type {reply.content_type!r}"]
    try:
        body: Any = reply.json()
    except ValueError:
        return [f"{status} body is not JSON: {reply.body[:200]!r}"]
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return [f"{status} body without a string `message`: {body!r}"[:300]]
    found: list[str] = []
    for error in body.get("errors", []):
        if not isinstance(error, dict) or not all(
            isinstance(error.get(k), str) for k in ("field", "message", "error_code")
        ):
            found.append(f"malformed errors[] entry {error!r}"[:300])
    if op is None:
        return found + ([] if status in (401, 403, 404) else [f"{status} outside any operation"])
    if str(status) in op.responses:
        found += [f"error schema: {e}" for e in op.response_errors(status, body)[:5]]
    elif status not in UNIVERSAL_ERRORS:
        found.append(f"{status} is not declared for {op.operation_id}: {body}"[:300])
    return found
