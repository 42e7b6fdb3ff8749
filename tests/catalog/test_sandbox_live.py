"""A create retried after its response was lost, live over loopback HTTP against the sandbox:
the 409 on our own custom slug is read back and returned as the success it was.

(Every action's run on the sandbox is checked by test_every_action.py.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from connector.errors import Conflict
from connector.runner import ActionRunner

from .recording import frozen_sandboxes, replay_inputs


@pytest.mark.slow
def test_a_create_whose_response_was_lost_is_read_back(catalog: Any) -> None:
    create = catalog.get("shorten_dev.create_link")
    inputs = catalog.prepare_inputs(create.id, replay_inputs(create), {})

    async def go(base_urls: dict[str, str], credentials: dict[str, str]) -> None:
        async with ActionRunner(
            catalog, base_urls=base_urls, credentials=credentials, env={}
        ) as runner:
            first = await runner.run(create.id, inputs)
            again = await runner.run(create.id, inputs)
            assert again == first
            assert again["link"]["slug"] == inputs["custom_slug"]
            assert again["link"]["destination_url"] == inputs["destination_url"]
            assert await runner.reconcile(create.id, inputs) == again
            other = {**inputs, "destination_url": "https://elsewhere.example/"}
            assert await runner.reconcile(create.id, other) is None
            with pytest.raises(Conflict):
                await runner.run(create.id, other)

    with frozen_sandboxes() as boxes:
        asyncio.run(go(dict(boxes.base_urls), dict(boxes.credentials)))
