"""A hook URL is a credential (its secret is all a sender needs): a log line quoting one,
an access log's path or an error's URL, shows it without the secret."""

from __future__ import annotations

import logging
import re

__all__ = ["mask_hook_secrets", "masked"]

_SECRET = re.compile(r"(/v1/hooks/hk_[0-9a-f]+\.)[A-Za-z0-9_-]+")


def masked(text: str) -> str:
    return _SECRET.sub(r"\1***", text)


class _HookSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = masked(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


_FILTER = _HookSecrets()


def mask_hook_secrets() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "httpx", "connector.service"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
