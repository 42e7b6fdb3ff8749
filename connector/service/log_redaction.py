"""Log records of the libraries the service runs on (httpx logs every request URL, and a
token pasted into a path would ride along) are masked before any handler sees them."""

from __future__ import annotations

import logging

from connector.redact import redact

__all__ = ["mask_library_logs"]

_LOGGERS = ("httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi")


class _Redacting(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_FILTER = _Redacting()


def mask_library_logs() -> None:
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
