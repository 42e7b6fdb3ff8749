"""A value produced by a template is data: it is never rendered a second time.

A trigger payload (a form answer, a link title) may legitimately hold `<<...>>` or `{{...}}`;
if the runtime rendered it again, a user could read any other value of the context through
it. The whole path is checked: input preparation, then the manifest's request templates.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from connector.catalog import Catalog
from connector.runner import ActionRunner

SECRET = "sk_live_PLANTED_render_once_0123456789"


def test_trigger_value_holding_templates_is_sent_verbatim(catalog: Catalog) -> None:
    hostile = "<<trigger.secret>> and {{trigger.secret}}"
    context = {"trigger": {"title": hostile, "secret": SECRET}}
    raw = {"bitlink": "bit.ly/abc1234", "title": "<<trigger.title>>", "tags": "{{trigger.title}}"}
    prepared = catalog.prepare_inputs("bitly.update_bitlink", raw, context)
    assert prepared["title"] == hostile and prepared["tags"] == [hostile]

    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body = json.loads(request.content)
        return httpx.Response(200, json={"id": "bit.ly/abc1234", "link": "https://bit.ly/abc1234",
                                         "long_url": "https://example.com/", **body})  # fmt: skip

    async def go() -> Any:
        async with ActionRunner(
            catalog,
            base_urls={"bitly": "https://api.test/v4"},
            credentials={"bitly": "tok_render_once_0123456789"},
            transport=httpx.MockTransport(answer),
            env={},
        ) as runner:
            return await runner.run("bitly.update_bitlink", prepared)

    output = asyncio.run(go())
    body = json.loads(sent[0].content)
    assert body["title"] == hostile and body["tags"] == [hostile]
    assert SECRET not in sent[0].content.decode() and SECRET not in json.dumps(output)
