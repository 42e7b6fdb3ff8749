"""The handler registry: one function per Bitly operationId, registered with `@handles`."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.sandbox.bitly.store import Store
from connector.sandbox.controls import Controls
from connector.vendor.facts import Operation

__all__ = ["HANDLERS", "Call", "Handler", "Reply", "handles"]


@dataclass
class Call:
    """One validated API request, as a handler sees it."""

    store: Store
    op: Operation
    #: decoded path parameters ("bitlink": "bit.ly/abc1234")
    path: dict[str, str]
    #: declared query parameters, coerced to their types, with defaults
    query: dict[str, Any]
    #: every query pair as sent (for undeclared ones such as `search_after`)
    raw_query: list[tuple[str, str]]
    #: decoded JSON body (None without one)
    body: Any
    now: float
    #: "http://host:port", for absolute URLs in responses
    base_url: str
    counts: Counter[str]
    controls: Controls
    #: requests to an endpoint key admitted in the current hour window
    used_this_hour: Callable[[str], int] | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        return self.store.conn

    @property
    def resource(self) -> str:
        return self.op.path.strip("/").split("/")[0]

    def field(self, name: str, default: Any = None) -> Any:
        """A body field (the body is a JSON object once validated)."""
        return self.body.get(name, default) if isinstance(self.body, dict) else default

    def success_schema(self) -> dict[str, Any]:
        """The schema of the operation's declared success body."""
        return self.op.responses.get(str(self.op.success_status)) or {}

    def api_url(self, path: str) -> str:
        return f"{self.base_url}/v4{path}"


#: (status, JSON body); status None means the operation's declared success status
Reply = tuple[int | None, Any]
Handler = Callable[[Call], Reply]

HANDLERS: dict[str, Handler] = {}


def handles(*operation_ids: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for operation_id in operation_ids:
            if operation_id in HANDLERS:
                raise RuntimeError(f"two handlers for {operation_id}")
            HANDLERS[operation_id] = handler
        return handler

    return register
