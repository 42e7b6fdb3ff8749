"""connector: a workflow-automation connector for the Bitly API v4 and shorten.dev.

    import connector
    catalog = connector.load_catalog()        # for running: fails closed (read_catalog: to list)
    out = await connector.run_action("bitly.get_user", {})

Errors are `connector.errors` classes rooted at `ConnectorError`; see that module's
docstring for the tree and what each means for a retry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from connector.errors import ConnectorError

__version__ = "0.1.0"

# Imported on first use, so `connector sandbox serve` does not pay for the engine's imports.
_LAZY = {
    "ActionRunner": "connector.runner",
    "Catalog": "connector.catalog",
    "engine_session": "connector.engine.session",
    "load_catalog": "connector.catalog",
    "load_workflow": "connector.engine.workflow",
    "read_catalog": "connector.catalog",
    "retry_run": "connector.engine.retry_run",
    "run_action": "connector.api",
}

__all__ = [
    "ActionRunner",
    "Catalog",
    "ConnectorError",
    "__version__",
    "engine_session",
    "load_catalog",
    "load_workflow",
    "read_catalog",
    "retry_run",
    "run_action",
]

if TYPE_CHECKING:
    from connector.api import run_action
    from connector.catalog import Catalog, load_catalog, read_catalog
    from connector.engine.retry_run import retry_run
    from connector.engine.session import engine_session
    from connector.engine.workflow import load_workflow
    from connector.runner import ActionRunner


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'connector' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
