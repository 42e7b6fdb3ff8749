"""Every JSON answer of the service leaves through `dumps_redacted`: a credential pasted into
an input, a trigger or a workflow comes back masked, whichever route echoes it."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from connector.redact import dumps_redacted

__all__ = ["RedactedJSONResponse"]


class RedactedJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps_redacted(content).encode("utf-8")
