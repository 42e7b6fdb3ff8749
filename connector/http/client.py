"""One pooled async httpx client per app and credential.

Every request goes through `AppClient.request`: it holds a budget slot while the request
runs, translates any failure with the app's Translator, reports throttles to the budget and
returns the decoded JSON body. Nothing from httpx escapes from here.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from connector import __version__
from connector import errors as E
from connector.budget import RequestBudget, UnlimitedBudget
from connector.http.translate import Translator, body_head, snippet
from connector.redact import redact, register_secret

# Every exception httpx can raise (its whole tree), plus OSError for a transport that leaks one.
_HTTPX_ERRORS = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    httpx.CookieConflict,
    OSError,
)

__all__ = [
    "MAX_ERROR_BODY",
    "MAX_RESPONSE_BODY",
    "USER_AGENT",
    "AppClient",
    "default_limits",
    "default_timeout",
]

USER_AGENT = f"connector/{__version__}"
#: bytes of an error response read at most (its message needs the first few hundred)
MAX_ERROR_BODY = 1024 * 1024
#: bytes of a successful response read at most, unless the action's manifest sets its own
#: `max_response_bytes`: decoded, JSON takes up to ~20 times its size in memory
MAX_RESPONSE_BODY = 8 * 1024 * 1024


def default_timeout() -> httpx.Timeout:
    # Connect fails fast (nothing was sent); reads get longer, metrics calls can be slow.
    return httpx.Timeout(30.0, connect=10.0, pool=60.0)


def default_limits(concurrency: int | None) -> httpx.Limits:
    # The pool never opens more connections than the app allows concurrently (Bitly: 5).
    size = concurrency if concurrency and concurrency > 0 else 10
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


class AppClient:
    """Sends requests to one app with one credential."""

    def __init__(
        self,
        *,
        app: str,
        base_url: str,
        credential: str,
        translator: Translator,
        budget: RequestBudget | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: int | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        register_secret(credential)
        self.app = app
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.translator = translator
        self.budget: RequestBudget = budget or UnlimitedBudget()
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {credential}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            },
            timeout=timeout or default_timeout(),
            limits=default_limits(concurrency),
            transport=transport,
            follow_redirects=False,
        )

    def is_under_base(self, url: str | httpx.URL) -> bool:
        """True when `url` is on this app's scheme, host, port and base path."""
        target = httpx.URL(url)
        base = self.base_url
        return (
            target.scheme == base.scheme
            and target.host == base.host
            and target.port == base.port
            and (target.path + "/").startswith(base.path)
        )

    async def request(
        self,
        action_id: str,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        max_bytes: int | None = None,
    ) -> Any:
        """Send one request (`url` relative to the base URL, or absolute under it).

        Returns the decoded JSON body (None for an empty one); raises ConnectorError, a
        FatalError when a successful body is larger than `max_bytes` (MAX_RESPONSE_BODY).
        """
        if url.startswith(("http://", "https://")):
            if not self.is_under_base(url):
                raise E.FatalError(
                    f"refusing to follow {_short(redact(url))}: it is not under the "
                    f"{self.app} base URL {self.base_url}",
                    where=action_id,
                )
            endpoint = httpx.URL(url).path[len(self.base_url.path) :]
        else:
            url = url.lstrip("/")
            endpoint = url
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        async with self.budget.slot(method, endpoint):
            try:
                request = self._client.build_request(
                    method.upper(), url, params=query or None, json=json_body
                )
                streamed = await self._client.send(request, stream=True)
                try:
                    response = await _read(streamed, max_bytes or MAX_RESPONSE_BODY)
                finally:
                    await streamed.aclose()  # back to the pool, even after a partial read
            except _HTTPX_ERRORS as exc:
                raise self.translator.from_exception(exc, action_id) from None
            except _TooLarge as exc:
                raise E.FatalError(
                    f"{self.app} answered HTTP {exc.status} with a body larger than "
                    f"{exc.limit:,} bytes; the action reads at most that much (raise its "
                    "manifest's max_response_bytes if such answers are expected)",
                    where=action_id,
                    status=exc.status,
                    # a success to a write means it was applied, even if unread
                    write_applied=True if method.upper() != "GET" else None,
                ) from None
        if response.status_code >= 300:
            error = self.translator.from_response(response, action_id)
            if isinstance(error, E.Throttled):
                self.budget.throttled(error.retry_after)
            raise error
        return _decode(response, action_id, self.app)

    async def aclose(self) -> None:
        await self._client.aclose()


class _TooLarge(Exception):
    def __init__(self, status: int, limit: int) -> None:
        self.status = status
        self.limit = limit


async def _read(response: httpx.Response, limit: int) -> httpx.Response:
    """At most `limit` bytes of a success (_TooLarge past it), MAX_ERROR_BODY of an error's.

    Streamed, and counted after any Content-Encoding is decoded, so neither a 400 MB answer
    nor a small gzip bomb is ever held whole; an error body only feeds a one-line message.
    """
    success = response.status_code < 300
    if success:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge(response.status_code, limit)
    cap = limit if success else MAX_ERROR_BODY
    head = bytearray()
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) > cap:
            if success:
                raise _TooLarge(response.status_code, limit)
            break
    # aiter_bytes has decoded any Content-Encoding; the copy holds plain bytes.
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=bytes(head[:cap]),
        request=response.request,
        extensions=response.extensions,
    )


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_query_value(v) for v in value]
    return value


def _decode(response: httpx.Response, action_id: str, app: str) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        ctype = response.headers.get("content-type", "no content type").split(";")[0]
        raise E.FatalError(
            redact(
                f"{app} answered HTTP {response.status_code} with a non-JSON body "
                f"({ctype}): {snippet(body_head(response))!r}"
            ),
            where=action_id,
            status=response.status_code,
            write_applied=True if response.request.method != "GET" else None,
        ) from None


def _short(url: str) -> str:
    return url if len(url) <= 120 else url[:120] + "..."
