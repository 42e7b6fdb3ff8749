"""Hostile requests to the admin endpoints (`/_sandbox/...`), shared by both sandboxes.

The admin answers in one shape for either app: `{"error", "message", "status"}` on errors,
the controls as JSON on success. A refused update must leave the controls as they were.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from ._asgi import Caller, Reply, Req

JSON_TYPE = (b"content-type", b"application/json")
#: the token the fuzzed sandboxes are built with, and the header that carries it
ADMIN_TOKEN = "fuzz-admin-token-0123456789"
ADMIN = (b"x-sandbox-admin-token", ADMIN_TOKEN.encode())
#: puts every limit and fault back to off after an accepted update
RESET = json.dumps(
    {
        "limits": {
            "per_second": None,
            "per_minute": None,
            "per_hour": None,
            "per_endpoint": {},
            "concurrency": None,
            "monthly_quota": None,
        },
        "faults": {
            "error_rate": 0,
            "latency_ms": 0,
            "drop_rate": 0,
            "lost_write_rate": 0,
            "seed": 0,
            "fail_paths": [],
        },
    }
).encode()

BAD_BODIES: tuple[bytes, ...] = (
    b"{",
    b"\xff\xfe",
    b"null",
    b"[]",
    b'"limits"',
    b"1",
    b"[" * 10_000 + b"]" * 10_000,
    b'{"limits": []}',
    b'{"limits": null}',
    b'{"faults": "x"}',
    b'{"unknown": 1}',
    b'{"\\ud800": 1}',
    b'{"limits": {"\\ud800": 1}}',
    b'{"limits": {"per_minute": -1}}',
    b'{"limits": {"per_minute": 1.5}}',
    b'{"limits": {"per_minute": "5"}}',
    b'{"limits": {"per_minute": true}}',
    b'{"limits": {"per_minute": NaN}}',
    b'{"limits": {"per_minute": 1e999}}',
    b'{"limits": {"per_endpoint": []}}',
    b'{"limits": {"per_endpoint": {"GET /x": [1]}}}',
    b'{"limits": {"per_endpoint": {"GET /x": [1, -2]}}}',
    b'{"limits": {"per_endpoint": {"GET /x": "1,2"}}}',
    b'{"limits": {"per_endpoint": {"\\ud800": [1, 2]}}}',
    b'{"limits": {"per_endpoint": {"\\ud800": "x"}}}',
    b'{"faults": {"error_rate": 1.5}}',
    b'{"faults": {"error_rate": -0.1}}',
    b'{"faults": {"error_rate": NaN}}',
    b'{"faults": {"error_rate": Infinity}}',
    b'{"faults": {"drop_rate": "0.5"}}',
    b'{"faults": {"latency_ms": NaN}}',
    b'{"faults": {"latency_ms": Infinity}}',
    b'{"faults": {"latency_ms": 1e308}}',
    b'{"faults": {"latency_ms": -5}}',
    b'{"faults": {"seed": 1.5}}',
    b'{"faults": {"seed": "7"}}',
    b'{"faults": {"fail_paths": "/items"}}',
    b'{"faults": {"fail_paths": [""]}}',
    b'{"faults": {"fail_paths": [1]}}',
    b'{"faults": {"fail_paths": ["\\ud800"]}}',
    b'{"faults": {"seed": ' + b"9" * 5000 + b"}}",
    b'{"faults": {"\\u202e": 1}}',
    b'{"limits": {}, "faults": {}, "admin": false}',
    b'{"x": "' + b"y" * (1024 * 1024 + 10) + b'"}',
)
GOOD_BODIES: tuple[bytes, ...] = (
    b"",
    b"{}",
    b'{"limits": {"per_minute": 1000000}}',
    b'{"faults": {"seed": 12345678901234567890}}',
    b'{"faults": {"latency_ms": 0.5, "error_rate": 0}}',
    b'{"limits": {"per_endpoint": {"GET /\\u00e9": [5, null]}}}',
)
ODD_ROUTES: tuple[tuple[str, bytes], ...] = (
    ("DELETE", b"/_sandbox/controls"),
    ("POST", b"/_sandbox/controls"),
    ("PUT", b"/_sandbox/counts"),
    ("GET", b"/_sandbox/"),
    ("GET", b"/_sandbox/controls/"),
    ("GET", b"/_sandbox/controls%00"),
    ("GET", b"/_sandbox/%2e%2e/v4/user"),
    ("GET", b"/_sandbox/counts%0A"),
    ("PATCH", b"/_sandbox/counts/reset"),
)


def _admin_problems(reply: Reply) -> list[str]:
    if reply.status >= 500:
        return [f"server error {reply.status}"]
    try:
        body = reply.json()
    except ValueError:
        return [f"not JSON: {reply.body[:200]!r}"]
    if reply.status >= 400:
        ok = (
            isinstance(body, dict)
            and isinstance(body.get("error"), str)
            and isinstance(body.get("message"), str)
            and body.get("status") == reply.status
        )
        return [] if ok else [f"error shape: {body!r}"[:300]]
    return []


def fuzz_admin(call: Caller, rng: random.Random, after: Callable[[], None]) -> int:
    """Send every bad, good and odd admin request (shuffled by `rng`); returns how many.

    `after` runs after each accepted update (once the controls are reset), to check the app
    still answers normally.
    """

    def send(method: str, path: bytes, body: bytes = b"") -> Reply:
        req = Req(method, path, b"", (JSON_TYPE, ADMIN), body, "admin")
        reply = call(req)
        found = _admin_problems(reply)
        assert not found, f"{req.describe()} -> {reply.status} {reply.body[:200]!r}: {found}"
        return reply

    def controls() -> bytes:
        return send("GET", b"/_sandbox/controls").body

    cases = [("bad", b) for b in BAD_BODIES] + [("good", b) for b in GOOD_BODIES]
    rng.shuffle(cases)
    for kind, body in cases:
        before = controls()
        reply = send("PUT", b"/_sandbox/controls", body)
        if kind == "bad":
            assert reply.status in (400, 413), (body[:80], reply.status, reply.body[:200])
            assert controls() == before, f"refused update {body[:80]!r} changed the controls"
        else:
            assert reply.status == 200, (body[:80], reply.body[:200])
            assert reply.json() == json.loads(controls())
            assert send("PUT", b"/_sandbox/controls", RESET).status == 200
            after()
    for method, path in ODD_ROUTES:
        assert send(method, path).status in (404, 405), (method, path)
    counts = send("GET", b"/_sandbox/counts").json()
    assert isinstance(counts["total"], int)
    return len(cases) + len(ODD_ROUTES)
