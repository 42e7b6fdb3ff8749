"""Every action once more, live over loopback HTTP against one pair of embedded sandboxes.

The replays prove the recorded shapes; this proves the runner against the servers as they
are now (a sandbox change that breaks an action fails here before anyone re-records).
Destructive actions run last, so the reads see the demo data.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector.errors import Conflict
from connector.runner import ActionRunner
from connector.sandbox.embedded import embedded_sandboxes

LAST = ("bitly.delete_bitlink", "shorten_dev.revoke_link")


@pytest.mark.slow
def test_every_action_runs_on_the_sandbox(catalog: Any, replay_inputs: Any) -> None:
    order = sorted(catalog.actions, key=lambda a: (a in LAST, a))
    failures: dict[str, list[str]] = {}

    async def go(base_urls: dict[str, str], credentials: dict[str, str]) -> None:
        async with ActionRunner(
            catalog, base_urls=base_urls, credentials=credentials, env={}
        ) as runner:
            for action_id in order:
                action = catalog.get(action_id)
                prepared = catalog.prepare_inputs(action_id, replay_inputs(action), {})
                output = await runner.run(action_id, prepared)
                problems = [
                    e.message[:200]
                    for e in Draft202012Validator(action.output_schema).iter_errors(output)
                ]
                if problems:
                    failures[action_id] = problems
            # A create retried after its response was lost: the 409 on our own custom slug
            # is read back and returned as the success it was.
            create = catalog.get("shorten_dev.create_link")
            inputs = catalog.prepare_inputs(create.id, replay_inputs(create), {})
            again = await runner.run(create.id, inputs)
            assert again["link"]["slug"] == inputs["custom_slug"]
            assert again["link"]["destination_url"] == inputs["destination_url"]
            assert await runner.reconcile(create.id, inputs) == again
            other = {**inputs, "destination_url": "https://elsewhere.example/"}
            assert await runner.reconcile(create.id, other) is None
            with pytest.raises(Conflict):
                await runner.run(create.id, other)

    with embedded_sandboxes() as boxes:
        asyncio.run(go(dict(boxes.base_urls), dict(boxes.credentials)))
    assert failures == {}
    assert len(order) >= 16
