"""Every one of the 62 operations: valid input -> its declared 2xx whose body validates against
the response schema; invalid input -> Bitly's error shape, naming the field where there is one."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from connector.sandbox.bitly.account import CLIENT_ID
from connector.sandbox.bitly.facts import load_bitly_facts
from connector.sandbox.bitly.real_traffic import as_described
from connector.vendor.facts import Operation

from .conftest import Client

GROUP = "Bdemo000001"
ORG = "Odemo000001"
CAMPAIGN = "Cdemo000001"
CHANNEL = "Hdemo000001"
LINK = "bit.ly/spring-sale"
CUSTOM = "sbx.ly/launch"
METRIC_QUERY = {"unit": "day", "units": "30"}
_serial = itertools.count()


def _fresh_link(client: Client) -> dict[str, str]:
    r = client.post("/v4/shorten", json={"long_url": f"https://example.com/del/{next(_serial)}"})
    assert r.status_code == 201, r.text
    return {"bitlink": r.json()["id"]}


def _fresh_webhook(client: Client) -> dict[str, str]:
    r = client.post(
        "/v4/webhooks",
        json={
            "organization_guid": ORG,
            "name": "hook",
            "event": "bitlink_created",
            "url": "https://example.com/hook",
        },
    )
    assert r.status_code == 201, r.text
    return {"webhook_guid": r.json()["guid"]}


@dataclass
class Case:
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    #: builds path params needing a fresh resource (a link to delete, a webhook)
    setup: Callable[[Client], dict[str, str]] | None = None
    body_factory: Callable[[dict[str, str]], Any] | None = None


VALID: dict[str, Case] = {
    "getOAuthApp": Case({"client_id": CLIENT_ID}),
    "createFullBitlink": Case(
        body_factory=lambda p: {
            "long_url": f"https://example.com/full/{next(_serial)}",
            "title": "Full",
            "tags": ["t1", "t2"],
            "group_guid": GROUP,
        }
    ),
    "deleteBitlink": Case(setup=_fresh_link),
    "getBitlink": Case({"bitlink": LINK}),
    "updateBitlink": Case({"bitlink": LINK}, body={"title": "Spring Sale!", "tags": ["sale"]}),
    "getMetricsForBitlinkByCities": Case({"bitlink": LINK}, METRIC_QUERY | {"size": "5"}),
    "getClicksForBitlink": Case({"bitlink": LINK}, METRIC_QUERY),
    "getClicksSummaryForBitlink": Case({"bitlink": LINK}, METRIC_QUERY),
    "getMetricsForBitlinkByCountries": Case({"bitlink": LINK}, METRIC_QUERY | {"size": "5"}),
    "getMetricsForBitlinkByDevices": Case({"bitlink": LINK}, METRIC_QUERY),
    "getBitlinkQRCode": Case({"bitlink": LINK}, {"image_format": "svg"}),
    "updateBitlinkQRCode": Case({"bitlink": LINK}, body={"color": "1133ff"}),
    "createBitlinkQRCode": Case({"bitlink": LINK}, body={"color": "000000", "image_format": "png"}),
    "getMetricsForBitlinkByReferrers": Case({"bitlink": LINK}, METRIC_QUERY),
    "getMetricsForBitlinkByReferrersByDomains": Case({"bitlink": LINK}, METRIC_QUERY),
    "getMetricsForBitlinkByReferringDomains": Case({"bitlink": LINK}, METRIC_QUERY),
    "getBSDs": Case(),
    "getCampaigns": Case(query={"group_guid": GROUP}),
    "createCampaign": Case(
        body={"name": "Autumn", "group_guid": GROUP, "channel_guids": [CHANNEL]}
    ),
    "getCampaign": Case({"campaign_guid": CAMPAIGN}),
    "updateCampaign": Case({"campaign_guid": CAMPAIGN}, body={"description": "Updated"}),
    "getChannels": Case(query={"campaign_guid": CAMPAIGN}),
    "createChannel": Case(
        body={
            "name": "Podcast",
            "group_guid": GROUP,
            "bitlinks": [{"bitlink_id": LINK, "campaign_guid": CAMPAIGN}],
        }
    ),
    "getChannel": Case({"channel_guid": CHANNEL}),
    "updateChannel": Case({"channel_guid": CHANNEL}, body={"name": "Newsletter (weekly)"}),
    "addCustomBitlink": Case(
        body_factory=lambda p: {"custom_bitlink": f"sbx.ly/new-{next(_serial)}", "bitlink_id": LINK}
    ),
    "getCustomBitlink": Case({"custom_bitlink": CUSTOM}),
    "updateCustomBitlink": Case(
        {"custom_bitlink": CUSTOM}, body={"bitlink_id": "bit.ly/docs-start"}
    ),
    "getClicksForCustomBitlink": Case({"custom_bitlink": CUSTOM}, METRIC_QUERY),
    "getCustomBitlinkMetricsByDestination": Case({"custom_bitlink": CUSTOM}, METRIC_QUERY),
    "expandBitlink": Case(body={"bitlink_id": LINK}),
    "getGroups": Case(query={"organization_guid": ORG}),
    "getGroup": Case({"group_guid": GROUP}),
    "updateGroup": Case({"group_guid": GROUP}, body={"name": "Marketing"}),
    "getBitlinksByGroup": Case({"group_guid": GROUP}, {"size": "5", "tags": "sale"}),
    "updateBitlinksByGroup": Case(
        {"group_guid": GROUP}, body={"action": "edit_tags", "links": [LINK], "add_tags": ["promo"]}
    ),
    "getSortedBitlinks": Case(
        {"group_guid": GROUP, "sort": "clicks"}, METRIC_QUERY | {"size": "5"}
    ),
    "getGroupMetricsByCities": Case({"group_guid": GROUP}, METRIC_QUERY),
    "getGroupClicks": Case({"group_guid": GROUP}, METRIC_QUERY),
    "getGroupMetricsByCountries": Case({"group_guid": GROUP}, METRIC_QUERY),
    "getGroupMetricsByDevices": Case({"group_guid": GROUP}, METRIC_QUERY),
    "getOverridesForGroups": Case({"group_guid": GROUP}),
    "getGroupPreferences": Case({"group_guid": GROUP}),
    "updateGroupPreferences": Case({"group_guid": GROUP}, body={"domain_preference": "bit.ly"}),
    "getQRLogoImagesByGroup": Case({"group_guid": GROUP}),
    "GetGroupMetricsByReferringNetworks": Case({"group_guid": GROUP}, METRIC_QUERY),
    "getGroupShortenCounts": Case({"group_guid": GROUP}, METRIC_QUERY),
    "getGroupTags": Case({"group_guid": GROUP}),
    "getOrganizations": Case(),
    "getOrganization": Case({"organization_guid": ORG}),
    "getPlanLimits": Case({"organization_guid": ORG}),
    "getOrganizationShortenCounts": Case({"organization_guid": ORG}, METRIC_QUERY),
    "getWebhooks": Case({"organization_guid": ORG}),
    "createBitlink": Case(
        body_factory=lambda p: {"long_url": f"https://example.com/new/{next(_serial)}"}
    ),
    "getUser": Case(),
    "updateUser": Case(body={"name": "Chauncey"}),
    "getPlatformLimits": Case(query={"path": "/v4/shorten"}),
    "createWebhook": Case(
        body={
            "organization_guid": ORG,
            "name": "hook",
            "event": "bitlink_created",
            "url": "https://example.com/hook",
        }
    ),
    "deleteWebhook": Case(setup=_fresh_webhook),
    "getWebhook": Case(setup=_fresh_webhook),
    "updateWebhook": Case(
        setup=_fresh_webhook,
        body_factory=lambda p: {**p, "guid": p["webhook_guid"], "name": "renamed"},
    ),
    "verifyWebhook": Case(setup=_fresh_webhook),
}

OPERATIONS = sorted(load_bitly_facts().operations, key=lambda o: o.operation_id)


def test_every_operation_has_a_valid_case() -> None:
    assert {o.operation_id for o in OPERATIONS} == set(VALID)
    assert len(OPERATIONS) == 62


def _url(op: Operation, params: dict[str, str]) -> str:
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", params[name])
    return "/v4" + path


def _call(client: Client, op: Operation, case: Case) -> Any:
    params = dict(case.path)
    if case.setup is not None:
        params.update(case.setup(client))
    body = case.body_factory(params) if case.body_factory else case.body
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "webhook_guid"}
    kwargs: dict[str, Any] = {"params": case.query}
    if body is not None:
        kwargs["json"] = body
    return client.request(op.method, _url(op, params), **kwargs)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda o: o.operation_id)
def test_valid_input_gets_declared_success(client: Client, op: Operation) -> None:
    r = _call(client, op, VALID[op.operation_id])
    declared = [int(s) for s in op.responses if s.startswith("2")]
    assert r.status_code in declared, r.text
    if r.status_code == 204:
        assert r.content == b""
        return
    body = r.json()
    assert body, "empty success body"
    # Where real traffic differs from the description the sandbox may answer as real traffic
    # does (connector/sandbox/bitly/real_traffic.py); that form must map back to the described.
    assert op.response_errors(r.status_code, as_described(op.operation_id, body)) == []


def _wrong_value(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return "not-a-choice"
    return {"string": 12345, "integer": "many", "boolean": "maybe", "array": "x", "object": 7}.get(
        kind
    )


ERROR_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _invalid(op: Operation) -> tuple[Case, int, str | None]:
    """An invalid request for `op`, the status it must get and the field it must name."""
    case = VALID[op.operation_id]
    props = (op.body_schema or {}).get("properties", {})
    if props:
        name = sorted(props)[0]
        return Case(case.path, case.query, {name: _wrong_value(props[name])}, case.setup), 400, name
    for name, param in sorted(op.query_params.items()):
        if param.schema.get("type") in ("integer", "boolean") or "enum" in param.schema:
            query = case.query | {name: "not-a-choice" if "enum" in param.schema else "many"}
            return Case(case.path, query, case.body, case.setup), 400, name
    if op.path_params:
        unknown = {
            n: ("bit.ly/zzzzzzz" if "bitlink" in n else "Xunknown999") for n in op.path_params
        }
        status = 404 if "404" in op.responses else 403
        return Case(unknown, case.query, case.body), status, None
    return case, 403, None  # nothing to get wrong but the token


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda o: o.operation_id)
def test_invalid_input_gets_bitly_error(client: Client, op: Operation) -> None:
    case, status, field_name = _invalid(op)
    if status == 403 and not op.path_params:
        r = client.request(op.method, _url(op, {}), headers={"Authorization": "Bearer wrong"})
    else:
        r = _call(client, op, case)
    assert r.status_code == status, r.text
    body = r.json()
    assert ERROR_CODE.match(body["message"]), body
    # Bad query parameters get 400 even where the description lists no 400 (it omits it on
    # several metrics operations); the body then has the shape of the declared 403/404 errors.
    assert str(status) in op.responses or status == 400
    declared = str(status) if str(status) in op.responses else "403"
    assert op.response_errors(int(declared), body) == []
    if field_name is not None:
        named = {e["field"]: e for e in body["errors"]}
        assert field_name in named, body
        assert named[field_name]["error_code"] == "invalid"
