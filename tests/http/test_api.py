"""`connector.run_action`, the Python face of `connector actions run`."""

from __future__ import annotations

import asyncio

import pytest

import connector
from connector.errors import InvalidInput, MissingCredential
from connector.sandbox.embedded import embedded_sandboxes


def test_run_action_resolves_templates_and_returns_output() -> None:
    with embedded_sandboxes() as boxes:
        out = asyncio.run(
            connector.run_action(
                "bitly.get_link_click_metrics",
                {"bitlink": "<<trigger.link>>", "unit": "day", "units": "<<trigger.units>>"},
                {"trigger": {"link": "https://bit.ly/spring-sale", "units": 7}},
                base_urls=dict(boxes.base_urls),
                credentials=dict(boxes.credentials),
            )
        )
    assert len(out["link_clicks"]) == 7
    assert sum(b["clicks"] for b in out["link_clicks"]) == out["total_clicks"]


def test_run_action_errors_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BITLY_TOKEN", raising=False)
    with pytest.raises(InvalidInput, match="units"):
        asyncio.run(
            connector.run_action(
                "bitly.get_link_click_metrics", {"bitlink": "bit.ly/x", "units": "seven"}
            )
        )
    with pytest.raises(MissingCredential, match="BITLY_TOKEN"):
        asyncio.run(connector.run_action("bitly.get_user", {}))
