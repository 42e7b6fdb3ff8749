"""One pooled async httpx client per app and credential.

Every request goes through `AppClient.request`: it holds a budget slot while the request
runs, translates any failure with the app's Translator, reports throttles to the budget and
returns the decoded JSON body. Nothing from httpx escapes from here.

A request is built once: its URL text is assembled from the base URL, the (already encoded)
path and the query, parsed once into an `httpx.URL`, and sent as an `httpx.Request` with the
headers prepared when the client was made. `AsyncClient.build_request` would parse the URL
three times and merge the client's headers, cookies and parameters again for every request.
No cookie is ever sent: the APIs authenticate with the bearer token alone.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

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
        local_address: str | None = None,
    ) -> None:
        """`local_address`: send from this local IP (CONNECTOR_SOURCE_ADDRESS), unless a
        `transport` is given."""
        register_secret(credential)
        if transport is None and local_address:
            # A transport of our own: the client's `limits` apply only to its default one.
            transport = httpx.AsyncHTTPTransport(
                local_address=local_address, limits=default_limits(concurrency)
            )
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
        #: the base URL as text ending in "/", for assembling each request's URL
        self._base_text = str(self.base_url)
        #: the base URL's parsed form, from which a plain URL under it is made (_plain_url)
        self._base_parts = _parts(self.base_url)
        #: the client's transport for the base URL (its pool, or the proxy the environment
        #: names), chosen once: every request goes to the base URL's origin (see request)
        self._transport = _transport_for(self._client, self.base_url)
        self._extensions = {"timeout": self._client.timeout.as_dict()}
        #: every request's headers, merged with httpx's defaults once, here
        self._headers = self._client.headers.copy()
        #: the same with Host first, as httpx adds it, for a request with no body to a
        #: path under the base URL: sent as they are, nothing to add per request
        self._bodyless_headers = httpx.Headers(
            [("Host", self.base_url.netloc.decode("ascii")), *self._headers.multi_items()]
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
        target = self._target(action_id, url, params)
        method = method.upper()
        netloc = self.base_url.netloc
        # The endpoint, relative to the base URL, for limits the API reports per endpoint.
        if url.startswith(("http://", "https://")):
            endpoint = target.path[len(self.base_url.path) :]
        else:
            endpoint = url.lstrip("/")
        async with self.budget.slot(method, endpoint):
            try:
                own_origin = target.netloc == netloc
                # No body and our own host: the headers are complete as prepared.
                bare = json_body is None and method not in _SENDS_LENGTH and own_origin
                request = httpx.Request(
                    method,
                    target,
                    headers=self._bodyless_headers if bare else self._headers,
                    json=None if bare else json_body,
                    stream=_NO_BODY if bare else None,
                    extensions=self._extensions,
                )
                if self._transport is not None and own_origin:
                    # Straight to the pool: AsyncClient.send would add only what these
                    # requests never use (auth flows, redirects, a cookie jar to fill).
                    streamed = await self._transport.handle_async_request(request)
                    streamed.request = request
                else:
                    streamed = await self._client.send(request, stream=True)
                try:
                    response, body = await _read(streamed, max_bytes or MAX_RESPONSE_BODY)
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
                    write_applied=True if method != "GET" else None,
                ) from None
        if response.status_code >= 300:
            error = self.translator.from_response(response, action_id)
            if isinstance(error, E.Throttled):
                self.budget.throttled(error.retry_after)
            raise error
        return _decode(response, body, action_id, self.app)

    def _target(self, action_id: str, url: str, params: dict[str, Any] | None) -> httpx.URL:
        """The request's URL, parsed once: `url` relative to the base URL (a path whose
        parameters are already encoded), or absolute under it; `params` as its query."""
        query = _query_text(params)
        try:
            if not url.startswith(("http://", "https://")):
                text = self._base_text + url.lstrip("/")
                if "?" not in text and "#" not in text:
                    plain = _plain_url(self._base_parts, url.lstrip("/"), query)
                    if plain is not None:
                        return plain
                    return httpx.URL(f"{text}?{query}" if query else text)
                target = httpx.URL(text)  # a path with its own query: `params` replace it
            else:
                target = httpx.URL(url)
                if not self.is_under_base(target):
                    raise E.FatalError(
                        f"refusing to follow {_short(redact(url))}: it is not under the "
                        f"{self.app} base URL {self.base_url}",
                        where=action_id,
                    )
        except httpx.InvalidURL as exc:
            raise self.translator.from_exception(exc, action_id) from None
        # As `build_request(params=...)` does: given parameters replace the URL's query.
        return target.copy_with(query=query.encode("ascii")) if query else target

    async def aclose(self) -> None:
        await self._client.aclose()


# Parsing a URL is the costliest part of building a request (~20 µs: a check of every
# character, percent-encoding of path and query, and for an IP host an `ipaddress` object).
# A request's path (encoded by connector.http.paths) and query (by _query_text) are already
# in the form httpx would give them when they hold only RFC 3986 path characters and
# `%XX` escapes, and no `.` or `..` segment: httpx would leave them as they are. Such a
# URL is made from the base URL's parsed parts with the path and query replaced, which is
# what parsing its text would give (checked when this module loads, and tested); any other
# URL, or an httpx whose URL no longer has these parts, is parsed.
#: RFC 3986 path characters besides `%` (which must start a `%XX` escape)
_PATH_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/"
_QUERY_CHARS = _PATH_CHARS + "?"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _plain(text: str, chars: str) -> bool:
    """Whether `text` holds only `chars` and well-formed `%XX` escapes."""
    # rstrip removes every character when all are in the set: one C loop, no regex.
    return not text.rstrip(chars) or (
        not text.rstrip(chars + "%") and _BAD_ESCAPE.search(text) is None
    )


def _parts(url: httpx.URL) -> tuple[Any, ...] | None:
    """What a URL under `url` is made from (see _plain_url), or None: parse them all."""
    parts = getattr(url, "_uri_reference", None)
    if not _PARTS_USABLE or parts is None or parts.query is not None or parts.fragment:
        return None
    return type(parts), parts.scheme, parts.userinfo, parts.host, parts.port, parts.path


def _plain_url(base: tuple[Any, ...] | None, relative: str, query: str) -> httpx.URL | None:
    """The URL of `relative` (encoded, no query) under the base with `query`, made without
    parsing; None when it must be parsed (see above)."""
    if base is None:
        return None
    kind, scheme, userinfo, host, port, base_path = base
    path = base_path + relative
    if not _plain(path, _PATH_CHARS) or (query and not _plain(query, _QUERY_CHARS)):
        return None
    if "/." in path and any(s in (".", "..") for s in path.split("/")):
        return None  # dot segments: httpx removes them
    url = httpx.URL.__new__(httpx.URL)
    url._uri_reference = kind(scheme, userinfo, host, port, path, query or None, None)
    return url


def _parts_usable() -> bool:
    """Whether this httpx's URL is made of the parts _plain_url fills in, in that order."""
    probe = "http://127.0.0.1:8080/v4/bitlinks/bit.ly/a%2Fb/clicks?unit=day&units=-1&x=a+b"
    try:
        base = httpx.URL("http://127.0.0.1:8080/v4/")._uri_reference
        made = httpx.URL.__new__(httpx.URL)
        made._uri_reference = type(base)(
            base.scheme, base.userinfo, base.host, base.port,
            "/v4/bitlinks/bit.ly/a%2Fb/clicks", "unit=day&units=-1&x=a+b", None,
        )  # fmt: skip
        parsed = httpx.URL(probe)
        return bool(made == parsed and made.raw_path == parsed.raw_path and str(made) == probe)
    except Exception:  # another httpx: parse every URL
        return False


_PARTS_USABLE = _parts_usable()


def _transport_for(client: httpx.AsyncClient, url: httpx.URL) -> httpx.AsyncBaseTransport | None:
    """The transport `client` sends `url`'s requests through, or None when this httpx does
    not say (then every request goes through `client.send`)."""
    pick = getattr(client, "_transport_for_url", None)
    if pick is None or client.event_hooks["request"] or client.event_hooks["response"]:
        return None
    transport = pick(url)
    return transport if isinstance(transport, httpx.AsyncBaseTransport) else None


class _TooLarge(Exception):
    def __init__(self, status: int, limit: int) -> None:
        self.status = status
        self.limit = limit


async def _read(response: httpx.Response, limit: int) -> tuple[httpx.Response, bytes]:
    """At most `limit` bytes of a success (_TooLarge past it), MAX_ERROR_BODY of an error's.

    Streamed, and counted after any Content-Encoding is decoded, so neither a 400 MB answer
    nor a small gzip bomb is ever held whole; an error body only feeds a one-line message.
    A success comes back as it was, beside its body; an error as a response holding its
    head, for the translator.
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
    if success:
        return response, bytes(head)
    # aiter_bytes has decoded any Content-Encoding; the copy holds plain bytes.
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    copy = httpx.Response(
        response.status_code,
        headers=headers,
        content=bytes(head[:cap]),
        request=response.request,
        extensions=response.extensions,
    )
    return copy, copy.content


#: methods httpx gives a `Content-Length: 0` when they have no body
_SENDS_LENGTH = frozenset({"POST", "PUT", "PATCH"})
_NO_BODY = httpx.ByteStream(b"")


def _query_text(params: dict[str, Any] | None) -> str:
    """`params` as a query string, encoded as httpx encodes `params=`: a list repeats its
    key, booleans are `true`/`false`, a top-level None leaves its key out."""
    if not params:
        return ""
    items: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        for one in value if isinstance(value, list | tuple) else (value,):
            items.append((str(key), _query_value(one)))
    if not "".join(k + v for k, v in items).rstrip(_UNRESERVED):
        # The usual query (`unit=day&units=7`): nothing to escape, urlencode would copy it.
        return "&".join(f"{k}={v}" for k, v in items)
    return urlencode(items)


#: characters urlencode never escapes (rstrip by them leaves nothing when all are)
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-"


def _query_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _decode(response: httpx.Response, body: bytes, action_id: str, app: str) -> Any:
    if response.status_code == 204 or not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        content_type = response.headers.get("content-type", "no content type")
        # The body as a response of its own, decoded in the charset its header names.
        read = httpx.Response(200, headers={"content-type": content_type}, content=body)
        raise E.FatalError(
            redact(
                f"{app} answered HTTP {response.status_code} with a non-JSON body "
                f"({content_type.split(';')[0]}): {snippet(body_head(read))!r}"
            ),
            where=action_id,
            status=response.status_code,
            write_applied=True if response.request.method != "GET" else None,
        ) from None


def _short(url: str) -> str:
    return url if len(url) <= 120 else url[:120] + "..."
