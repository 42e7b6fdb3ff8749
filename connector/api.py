"""The Python interface in a few calls (the CLI is built on the same ones).

    catalog = load_catalog()
    catalog.get("bitly.get_link_click_metrics")          # describe an action
    catalog.prepare_inputs(action_id, raw, context)      # validate inputs without running
    output = await run_action(action_id, raw, context)   # one action, output or typed error

Workflows: `load_workflow(path, catalog)`, then `engine_session(...)` and `engine.run(...)`;
`retry_run(engine, run_id)` is the one-click retry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from connector.catalog import Catalog, load_catalog
from connector.credentials import register_credentials
from connector.runner import ActionRunner

__all__ = ["run_action"]


async def run_action(
    action_id: str,
    inputs: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
    *,
    catalog: Catalog | None = None,
    base_urls: dict[str, str] | None = None,
    credentials: dict[str, str] | None = None,
) -> Any:
    """Resolve `inputs` against `context`, run the action once, return its output.

    Raises InvalidInput (bad or unknown input, template error), MissingCredential, or an
    ActionError subclass saying whether a retry could help. Credentials default to the app's
    environment variable, base URLs to the manifest's (or their env overrides).
    """
    catalog = catalog or load_catalog()
    catalog.get(action_id)  # an unknown id fails before anything is prepared
    # Masked before the inputs are checked: an error quoting an input may quote a token.
    register_credentials(catalog, credentials, os.environ)
    prepared = catalog.prepare_inputs(action_id, dict(inputs), dict(context or {}))
    async with ActionRunner(catalog, base_urls=base_urls, credentials=credentials) as runner:
        return await runner.run(action_id, prepared)
