"""Limits, fault injection and request counts shared by both sandbox servers.

The values here are the contract; `ControlsMiddleware` (same module) enforces them in
front of either app, which supplies a `Dialect` saying how its API spells a throttle, a
quota error, or a server error, and which requests are writes.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Protocol

import httpx
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "Controls",
    "ControlsMiddleware",
    "Dialect",
    "Faults",
    "Limits",
    "controls_from_json",
    "controls_to_json",
]


@dataclass
class Limits:
    """Request limits; None means unlimited."""

    per_second: int | None = None
    per_minute: int | None = None
    per_hour: int | None = None
    #: endpoint key -> (per_minute, per_hour), overriding the two above for that endpoint
    per_endpoint: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    #: requests handled at once; more get throttled
    concurrency: int | None = None
    #: requests handled at once from one client address (Bitly: 5 per client IP); more
    #: get throttled as the app throttles, with the reason `concurrency_per_client`
    concurrency_per_client: int | None = None
    #: requests a calendar month (UTC) across all endpoints
    monthly_quota: int | None = None
    #: "fixed": windows aligned on the clock (as Bitly's appear to be); "sliding": at most
    #: N requests in any interval of the window's length
    windows: str = "fixed"


@dataclass
class Faults:
    """Injected faults, drawn from a random generator seeded with `seed`."""

    #: probability of answering 500, 502 or 503 (before the request is handled)
    error_rate: float = 0.0
    #: added latency, milliseconds, before handling
    latency_ms: float = 0.0
    #: probability of cutting the connection before the request is handled
    drop_rate: float = 0.0
    #: probability, for writes, of applying the write and then cutting the connection
    lost_write_rate: float = 0.0
    seed: int = 0
    #: requests whose path contains one of these texts are answered 503 every time: a fault
    #: that does not depend on the order requests arrive in, for tests that need some items
    #: to fail and others to succeed whatever the concurrency
    fail_paths: tuple[str, ...] = ()


@dataclass
class Controls:
    limits: Limits = field(default_factory=Limits)
    faults: Faults = field(default_factory=Faults)
    #: expose /_sandbox/controls for changing limits and faults at run time
    admin: bool = False
    #: what the admin endpoints require in the X-Sandbox-Admin-Token header; a random one is
    #: made when admin is on and none is given (the CLI prints it)
    admin_token: str | None = field(default=None, repr=False, compare=False)


class Dialect(Protocol):
    """What one API's sandbox tells the controls layer."""

    def endpoint_key(self, scope: Scope) -> str | None:
        """A stable key per endpoint ("GET /v4/bitlinks/{bitlink}"); None: not limited."""

    def is_write(self, scope: Scope) -> bool:
        """Whether the request changes state (for lost-write faults)."""

    def throttled(self, reason: str, retry_after: float) -> Response:
        """The API's answer to a request over a per-second/minute/hour or concurrency limit."""

    def quota_exhausted(self) -> Response:
        """The API's answer once the monthly quota is used up."""

    def server_error(self, status: int) -> Response:
        """The API's answer for an injected 500, 502 or 503."""


# --------------------------------------------------------------------------------------------
# The middleware


#: the header the admin endpoints require, and the largest body they read
ADMIN_TOKEN_HEADER = "x-sandbox-admin-token"
MAX_ADMIN_BODY = 64 * 1024

_REASONS = ("per_second", "per_minute", "per_hour")
_PERIODS = (1, 60, 3600)
_WINDOW_NAMES = {1: "second", 60: "minute", 3600: "hour"}
#: calendar windows whose counts are kept (per endpoint and length), the oldest dropped
_HISTORY = 4096
_ERROR_STATUSES = (500, 502, 503)
_ADMIN_PREFIX = "/_sandbox/"

#: Set while a connection is being cut on purpose, so the log filter below can tell an
#: intended cut from a real bug in an app.
_cutting: ContextVar[bool] = ContextVar("sandbox_cutting", default=False)
_UVICORN_INCOMPLETE = "ASGI callable returned without completing response."


class _IntendedCutFilter(logging.Filter):
    """Drops uvicorn's complaint about an unfinished response when we cut it on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_cutting.get() and record.msg == _UVICORN_INCOMPLETE)


_cut_filter_installed = False


def _install_cut_filter() -> None:
    global _cut_filter_installed
    if not _cut_filter_installed:
        logging.getLogger("uvicorn.error").addFilter(_IntendedCutFilter())
        _cut_filter_installed = True


async def _cut_connection(send: Send) -> None:
    """End the exchange with no HTTP response: the client sees a transport error.

    uvicorn (httptools and h11 alike) validates header values before writing a byte and
    marks the response started first; an invalid value therefore makes `send` raise with
    nothing on the wire, and returning then makes uvicorn close the socket. Under a server
    that does not validate (httpx.ASGITransport in-process), raise the exception an httpx
    client would have seen over a real socket.
    """
    _cutting.set(True)
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [(b"x-sandbox-cut", b"\r\n")],
            }
        )
    except Exception:
        return
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


async def _discard(message: Message) -> None:
    """A `send` that drops the response of a write whose answer is to be lost."""


class _Window:
    """A fixed window counter: `count` requests in window number `index`; for a sliding
    window, the admission times of the last requests instead."""

    __slots__ = ("count", "index", "times")

    def __init__(self) -> None:
        self.index = -1
        self.count = 0
        self.times: deque[float] = deque()


class ControlsMiddleware:
    """Pure ASGI middleware enforcing `Controls` in front of a sandbox app.

    Order per request: admin endpoints, count, monthly quota, per-second/minute/hour windows
    (fixed windows aligned on the clock, per endpoint key), concurrency, then faults (latency,
    injected server error, dropped connection) before the app runs, and lost writes after.
    Rejected requests are counted but consume neither quota nor window.
    """

    def __init__(
        self,
        app: ASGIApp,
        controls: Controls,
        dialect: Dialect,
        now: Callable[[], float],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.app = app
        self.controls = controls
        self.dialect = dialect
        self.now = now
        self.sleep = sleep
        self.counts: Counter[str] = Counter()
        # uvicorn runs one event loop, but tests read and change state from other threads.
        self._lock = threading.Lock()
        self._rng = random.Random(controls.faults.seed)
        self._rng_seed = controls.faults.seed
        self._windows: dict[tuple[str, int], _Window] = {}
        self._in_flight = 0
        self._in_flight_by_client: Counter[str] = Counter()
        #: (endpoint, period, window index) -> [admitted, throttled]: what each calendar
        #: window received, so a test can check that none was ever exceeded
        self._history: dict[tuple[str, int, int], list[int]] = {}
        #: throttled answers by reason (per_second, per_minute, per_hour, concurrency, ...)
        self.throttles: Counter[str] = Counter()
        self._month: tuple[int, int] = (0, 0)
        self._month_used = 0
        if controls.admin and not controls.admin_token:
            controls.admin_token = secrets.token_urlsafe(24)
        _install_cut_filter()

    # -- state helpers, usable from tests ----------------------------------------------------

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self._history.clear()
            self.throttles.clear()

    def window_counts(self) -> list[dict[str, Any]]:
        """Per endpoint and calendar window (second, minute, hour; by its start on the
        sandbox's clock): requests admitted and throttled in it, oldest first."""
        with self._lock:
            items = sorted(self._history.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0]))
        return [
            {
                "endpoint": key,
                "window": _WINDOW_NAMES[period],
                "start": index * period,
                "admitted": admitted,
                "throttled": throttled,
            }
            for (key, period, index), (admitted, throttled) in items
        ]

    def reset_faults(self) -> None:
        """Restart the fault sequence from `controls.faults.seed`."""
        with self._lock:
            self._rng_seed = self.controls.faults.seed
            self._rng = random.Random(self._rng_seed)

    def reset_limits(self) -> None:
        """Forget the windows and the month's usage."""
        with self._lock:
            self._windows.clear()
            self._month_used = 0

    # -- the request path --------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.controls.admin and scope["path"].startswith(_ADMIN_PREFIX):
            await self._admin(scope, receive, send)
            return
        key = self.dialect.endpoint_key(scope)
        try:
            if key is None:
                await self.app(scope, receive, send)
                return

            client = scope.get("client")
            address = str(client[0]) if client else ""
            rejection, draws = self._admit(key, address)
            if rejection is not None:
                await rejection(scope, receive, send)
                return
            try:
                await self._run(scope, receive, send, draws)
            finally:
                with self._lock:
                    self._in_flight -= 1
                    self._in_flight_by_client[address] -= 1
                    if self._in_flight_by_client[address] <= 0:
                        del self._in_flight_by_client[address]
        except ClientDisconnect:
            # The client went away mid-body: nobody is left to answer, and it is no bug.
            return

    def _admit(
        self, key: str, address: str = ""
    ) -> tuple[Response | None, tuple[float, float, float, float] | None]:
        """Count the request and apply the limits; on admission also draw its faults.
        `address`: the client's, for the per-client concurrency cap."""
        limits = self.controls.limits
        faults = self.controls.faults
        now = self.now()
        with self._lock:
            self.counts[key] += 1
            if limits.monthly_quota is not None:
                t = time.gmtime(now)
                month = (t.tm_year, t.tm_mon)
                if month != self._month:
                    self._month, self._month_used = month, 0
                if self._month_used >= limits.monthly_quota:
                    return self.dialect.quota_exhausted(), None
            if limits.per_second or limits.per_minute or limits.per_hour or limits.per_endpoint:
                throttle = self._check_windows(key, limits, now)
                if throttle is not None:
                    return throttle, None
            if limits.concurrency is not None and self._in_flight >= limits.concurrency:
                self.throttles["concurrency"] += 1
                return self.dialect.throttled("concurrency", 1.0), None
            per_client = limits.concurrency_per_client
            if per_client is not None and self._in_flight_by_client[address] >= per_client:
                self.throttles["concurrency_per_client"] += 1
                return self.dialect.throttled("concurrency_per_client", 1.0), None
            if limits.monthly_quota is not None:
                self._month_used += 1
            self._in_flight += 1
            self._in_flight_by_client[address] += 1
            if faults.error_rate or faults.drop_rate or faults.lost_write_rate:
                if faults.seed != self._rng_seed:
                    self._rng_seed = faults.seed
                    self._rng = random.Random(faults.seed)
                # Always four draws per admitted request: the sequence then depends only on
                # the seed and the request order, not on which rates are set.
                r = self._rng.random
                return None, (r(), r(), r(), r())
            return None, None

    def _check_windows(self, key: str, limits: Limits, now: float) -> Response | None:
        per_minute, per_hour = limits.per_endpoint.get(key, (limits.per_minute, limits.per_hour))
        caps = (limits.per_second, per_minute, per_hour)
        sliding = limits.windows == "sliding"
        windows = []
        for cap, period, reason in zip(caps, _PERIODS, _REASONS, strict=True):
            if cap is None:
                continue
            window = self._windows.get((key, period))
            if window is None:
                window = self._windows[(key, period)] = _Window()
            index = int(now // period)
            if sliding:
                times = window.times
                while times and times[0] <= now - period:
                    times.popleft()
                if len(times) >= cap:
                    self._tally(key, period, index, throttled=True, reason=reason)
                    return self.dialect.throttled(reason, times[0] + period - now)
            else:
                if window.index != index:
                    window.index, window.count = index, 0
                if window.count >= cap:
                    self._tally(key, period, index, throttled=True, reason=reason)
                    return self.dialect.throttled(reason, (index + 1) * period - now)
            windows.append((window, period, index))
        for window, period, index in windows:
            window.count += 1
            if sliding:
                window.times.append(now)
            self._tally(key, period, index)
        return None

    def _tally(
        self, key: str, period: int, index: int, *, throttled: bool = False, reason: str = ""
    ) -> None:
        """Count a request in its calendar window's history (the lock is held)."""
        entry = self._history.get((key, period, index))
        if entry is None:
            if len(self._history) >= _HISTORY:
                del self._history[next(iter(self._history))]  # the oldest window seen
            entry = self._history[(key, period, index)] = [0, 0]
        entry[1 if throttled else 0] += 1
        if throttled:
            self.throttles[reason] += 1

    def used_this_hour(self, key: str) -> int:
        """Requests to `key` admitted in the current hour window (what a platform-limits
        answer reports as used); all requests counted when no hourly window is kept."""
        with self._lock:
            window = self._windows.get((key, 3600))
            if window is None:
                return self.counts.get(key, 0)
            now = self.now()
            if self.controls.limits.windows == "sliding":
                return sum(1 for t in window.times if t > now - 3600)
            return window.count if window.index == int(now // 3600) else 0

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        draws: tuple[float, float, float, float] | None,
    ) -> None:
        faults = self.controls.faults
        if faults.latency_ms > 0:
            await self.sleep(faults.latency_ms / 1000.0)
        if faults.fail_paths and any(part in scope["path"] for part in faults.fail_paths):
            await self.dialect.server_error(503)(scope, receive, send)
            return
        if draws is None:
            await self.app(scope, receive, send)
            return
        u_error, u_status, u_drop, u_lost = draws
        if u_error < faults.error_rate:
            status = _ERROR_STATUSES[int(u_status * len(_ERROR_STATUSES))]
            await self.dialect.server_error(status)(scope, receive, send)
            return
        if u_drop < faults.drop_rate:
            await _cut_connection(send)
            return
        if u_lost < faults.lost_write_rate and self.dialect.is_write(scope):
            await self.app(scope, receive, _discard)
            await _cut_connection(send)
            return
        await self.app(scope, receive, send)

    # -- admin endpoints ---------------------------------------------------------------------

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        response: Response | None = self._admin_refusal(scope)
        if response is None and path == "/_sandbox/counts" and method == "GET":
            with self._lock:
                counts = dict(self.counts)
            response = JSONResponse({"counts": counts, "total": sum(counts.values())})
        elif response is None and path == "/_sandbox/windows" and method == "GET":
            with self._lock:
                throttles = dict(self.throttles)
            response = JSONResponse({"windows": self.window_counts(), "throttles": throttles})
        elif response is None and path == "/_sandbox/counts/reset" and method == "POST":
            self.reset_counts()
            response = JSONResponse({"counts": {}, "total": 0})
        elif response is None and path == "/_sandbox/controls" and method in ("GET", "PUT"):
            if method == "PUT":
                try:
                    body = await _read_body(scope, receive, MAX_ADMIN_BODY)
                except _BodyTooLarge:
                    response = _admin_error(
                        413, "too_large", f"the body is over {MAX_ADMIN_BODY} bytes"
                    )
                    await response(scope, receive, send)
                    return
                if body is None:
                    return  # the client went away: nobody to answer
                try:
                    self._apply_update(body)
                except ValueError as exc:
                    # the message may quote a key holding a lone surrogate: keep it encodable
                    message = str(exc).encode("utf-8", "backslashreplace").decode("utf-8")
                    await _admin_error(400, "bad_request", message)(scope, receive, send)
                    return
            response = JSONResponse(controls_to_json(self.controls))
        elif response is None and path in _ADMIN_PATHS:
            response = _admin_error(405, "method_not_allowed", f"{method} not allowed")
        elif response is None:
            response = _admin_error(404, "not_found", f"no admin endpoint {path}")
        await response(scope, receive, send)

    def _admin_refusal(self, scope: Scope) -> Response | None:
        """403 for a request a browser sent from another origin, 401 without the token."""
        headers = _headers(scope)
        origin = headers.get("origin")
        host = headers.get("host", "")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            return _admin_error(403, "forbidden", "cross-origin requests to /_sandbox/ are refused")
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return _admin_error(403, "forbidden", "cross-site requests to /_sandbox/ are refused")
        expected = (self.controls.admin_token or "").encode()
        given = headers.get(ADMIN_TOKEN_HEADER, "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            return _admin_error(
                401,
                "unauthorized",
                "the admin endpoints need the X-Sandbox-Admin-Token header "
                "(the token is printed when the sandbox starts)",
            )
        return None

    def _apply_update(self, body: bytes) -> None:
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise ValueError("body is not valid JSON") from None
        limits, faults = controls_from_json(data, self.controls)
        with self._lock:
            self.controls.limits = limits
            self.controls.faults = faults
            self._windows.clear()
            self._rng_seed = faults.seed
            self._rng = random.Random(faults.seed)


_ADMIN_PATHS = (
    "/_sandbox/counts",
    "/_sandbox/counts/reset",
    "/_sandbox/controls",
    "/_sandbox/windows",
)


def _admin_error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, "status": status}, status)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


class _BodyTooLarge(Exception):
    pass


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body, at most `limit` bytes (_BodyTooLarge past it); None when the client
    disconnected before sending it all."""
    declared = _headers(scope).get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > limit:
            raise _BodyTooLarge
        if not message.get("more_body", False):
            return bytes(body)


# --------------------------------------------------------------------------------------------
# Controls <-> JSON, for the admin endpoint


def controls_to_json(controls: Controls) -> dict[str, Any]:
    limits = asdict(controls.limits)
    limits["per_endpoint"] = {k: list(v) for k, v in controls.limits.per_endpoint.items()}
    return {"limits": limits, "faults": asdict(controls.faults), "admin": controls.admin}


#: Most latency the admin endpoint accepts: more would only hang every request.
MAX_LATENCY_MS = 60_000


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _opt_int(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: expected a non-negative integer or null, got {value!r}")
    return value


def _rate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{where}: expected a number between 0 and 1, got {value!r}")
    return float(value)


def controls_from_json(data: Any, current: Controls) -> tuple[Limits, Faults]:
    """New limits and faults from a partial JSON update; ValueError names the bad field."""
    if not isinstance(data, dict):
        raise ValueError("body: expected a JSON object with 'limits' and/or 'faults'")
    unknown = set(data) - {"limits", "faults"}
    if unknown:
        raise ValueError(f"body: unknown key(s) {sorted(unknown)}; expected 'limits', 'faults'")
    limits = replace(current.limits)
    faults = replace(current.faults)
    raw_limits = data.get("limits", {})
    raw_faults = data.get("faults", {})
    if not isinstance(raw_limits, dict) or not isinstance(raw_faults, dict):
        raise ValueError("limits/faults: expected JSON objects")
    limit_fields = {f.name for f in fields(Limits)}
    for name, value in raw_limits.items():
        where = f"limits.{name}"
        if name not in limit_fields:
            raise ValueError(f"{where}: unknown; expected one of {sorted(limit_fields)}")
        if name == "per_endpoint":
            if not isinstance(value, dict):
                raise ValueError(f"{where}: expected an object of key -> [per_minute, per_hour]")
            overrides: dict[str, tuple[int | None, int | None]] = {}
            for key, pair in value.items():
                if not _is_text(key):
                    raise ValueError(f"{where}: key {key!r} is not valid Unicode text")
                if not isinstance(pair, list) or len(pair) != 2:
                    raise ValueError(f"{where}.{key}: expected [per_minute, per_hour]")
                overrides[key] = (
                    _opt_int(pair[0], f"{where}.{key}[0]"),
                    _opt_int(pair[1], f"{where}.{key}[1]"),
                )
            limits.per_endpoint = overrides
        elif name == "windows":
            if value not in ("fixed", "sliding"):
                raise ValueError(f"{where}: expected 'fixed' or 'sliding', got {value!r}")
            limits.windows = value
        else:
            setattr(limits, name, _opt_int(value, where))
    fault_fields = {f.name for f in fields(Faults)}
    for name, value in raw_faults.items():
        where = f"faults.{name}"
        if name not in fault_fields:
            raise ValueError(f"{where}: unknown; expected one of {sorted(fault_fields)}")
        if name == "seed":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{where}: expected an integer, got {value!r}")
            faults.seed = value
        elif name == "latency_ms":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= MAX_LATENCY_MS  # also refuses NaN and infinity
            ):
                raise ValueError(
                    f"{where}: expected milliseconds, 0..{MAX_LATENCY_MS}, got {value!r}"
                )
            faults.latency_ms = float(value)
        elif name == "fail_paths":
            if not isinstance(value, list) or not all(
                isinstance(part, str) and part and _is_text(part) for part in value
            ):
                raise ValueError(f"{where}: expected a list of non-empty texts, got {value!r}")
            faults.fail_paths = tuple(value)
        else:
            setattr(faults, name, _rate(value, where))
    return limits, faults
