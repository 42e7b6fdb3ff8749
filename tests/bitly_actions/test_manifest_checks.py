"""The catalog checks on the fields this part added: pagination and plan_feature."""

from __future__ import annotations

from connector.catalog import load_catalog
from connector.catalog.operations import operation_problems

CATALOG = load_catalog()


def _problems(action_id: str, **changes: object) -> list[tuple[str, str]]:
    action = CATALOG.get(action_id)
    return list(operation_problems(action.model_copy(update=changes)))


def test_the_catalog_as_committed_has_none() -> None:
    assert all(list(operation_problems(a)) == [] for a in CATALOG.actions.values())


def test_pagination_only_on_a_request_and_its_limit_names_an_input() -> None:
    paging = CATALOG.get("bitly.list_group_bitlinks").pagination
    assert paging is not None and paging.items == "links"
    changed = paging.model_copy(update={"limit": "most"})
    assert _problems("bitly.list_group_bitlinks", pagination=changed) == [
        ("pagination.limit", "'most' is not an input of the action")
    ]
    found = _problems("bitly.get_link_click_metrics", pagination=paging)
    assert ("pagination", "only for a declarative request (a handler pages itself)") in found


def test_plan_feature_is_required_exactly_when_a_premium_operation_is_called() -> None:
    assert _problems("bitly.list_campaigns", plan_feature=None) == [
        (
            "plan_feature",
            "calls premium operation(s) getCampaigns: name the paid-plan feature they need",
        )
    ]
    assert _problems("bitly.list_groups", plan_feature="Groups") == [
        ("plan_feature", "only for an action that calls an operation the vendor marks premium")
    ]
