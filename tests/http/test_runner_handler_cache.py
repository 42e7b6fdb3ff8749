"""Handlers are imported once per dotted name; a bad name is refused every time."""

from __future__ import annotations

import pytest

from connector import runner
from connector.errors import InvalidConfiguration
from connector.runner import resolve_handler


def test_a_handler_is_resolved_once_and_kept() -> None:
    dotted = "connector.apps.bitly.metrics:get_link_click_metrics"
    runner._HANDLERS.pop(dotted, None)
    first = resolve_handler(dotted)
    assert runner._HANDLERS[dotted] is first
    assert resolve_handler(dotted) is first


@pytest.mark.parametrize(
    "dotted", ["no_colon", "connector.apps.bitly.nope:f", "connector.apps.bitly.metrics:nope"]
)
def test_bad_names_are_refused_every_time_and_never_kept(dotted: str) -> None:
    for _ in range(2):
        with pytest.raises(InvalidConfiguration):
            resolve_handler(dotted)
    assert dotted not in runner._HANDLERS
