"""Premium operations: the catalog says which actions need a paid plan and which feature, and
on a free plan the 402 names that feature."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from connector.api import run_action
from connector.catalog import load_catalog
from connector.catalog.export import export_catalog
from connector.catalog.operations import premium_operations
from connector.errors import UpgradeRequired
from connector.sandbox.bitly.app import create_app
from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SEED, SandboxConfig, frozen_clock
from connector.sandbox.server import BackgroundServer

CATALOG = load_catalog()
PREMIUM = sorted(a.id for a in CATALOG.actions.values() if premium_operations(a))


def test_every_action_calling_a_premium_operation_names_its_plan_feature_in_the_export() -> None:
    exported = {a["id"]: a for app in export_catalog(CATALOG)["apps"] for a in app["actions"]}
    assert len(PREMIUM) >= 20  # campaigns, channels, webhooks, custom bitlinks, cities, devices
    for action_id, document in exported.items():
        if action_id in PREMIUM:
            assert document["plan_feature"], action_id
        else:
            assert document["plan_feature"] is None, action_id


@pytest.fixture(scope="module")
def free_plan() -> Iterator[str]:
    config = SandboxConfig(seed=DEMO_SEED, now=frozen_clock())
    with BackgroundServer(create_app(config, plan="free")) as server:
        yield server.url + "/v4"


def _run(base_url: str, action_id: str, inputs: dict[str, object]) -> object:
    return asyncio.run(
        run_action(
            action_id,
            inputs,
            base_urls={"bitly": base_url},
            credentials={"bitly": DEMO_BITLY_TOKEN},
        )
    )


@pytest.mark.parametrize(
    ("action_id", "inputs", "feature"),
    [
        ("bitly.list_campaigns", {}, "Campaigns"),
        ("bitly.get_webhook", {"webhook_guid": "Wdemo000001"}, "Webhooks"),
        ("bitly.get_link_clicks_by_city", {"bitlink": "bit.ly/spring-sale"}, "City-level"),
        ("bitly.get_qr_code_image", {"bitlink": "bit.ly/spring-sale"}, "QR Code images"),
    ],
)
def test_a_402_on_a_free_plan_says_which_plan_feature_is_missing(
    free_plan: str, action_id: str, inputs: dict[str, object], feature: str
) -> None:
    with pytest.raises(UpgradeRequired) as caught:
        _run(free_plan, action_id, inputs)
    message = str(caught.value)
    assert "402" in message and "UPGRADE_REQUIRED" in message
    assert f"{action_id} needs the paid-plan feature {feature}" in message
    assert "\n" not in message


def test_a_free_plan_still_runs_what_needs_no_paid_plan(free_plan: str) -> None:
    output = _run(free_plan, "bitly.list_groups", {})
    assert isinstance(output, dict) and output["groups"]
