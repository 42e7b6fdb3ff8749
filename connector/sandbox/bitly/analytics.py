"""Routes of the metrics endpoints: which links' clicks count, then H3's computations."""

from __future__ import annotations

import json
from typing import Any

from connector.sandbox.bitly.account import group_row
from connector.sandbox.bitly.custom_bitlinks import custom_row
from connector.sandbox.bitly.errors import field_error
from connector.sandbox.bitly.links import bitlink_key, link_by_key
from connector.sandbox.bitly.metrics import METRIC_HANDLERS, SINCE_PARAM, MetricParamError
from connector.sandbox.bitly.real_traffic import QUIRKY_OPERATIONS, real_traffic_form
from connector.sandbox.bitly.registry import Call, Reply, handles

__all__: list[str] = []

_WINDOW_PARAMS = ("unit", "units", "unit_reference", "size")
_BITLINK_OPS = (
    "getClicksForBitlink",
    "getClicksSummaryForBitlink",
    "getMetricsForBitlinkByCountries",
    "getMetricsForBitlinkByCities",
    "getMetricsForBitlinkByDevices",
    "getMetricsForBitlinkByReferrers",
    "getMetricsForBitlinkByReferringDomains",
    "getMetricsForBitlinkByReferrersByDomains",
)
_CUSTOM_OPS = ("getClicksForCustomBitlink", "getCustomBitlinkMetricsByDestination")
_GROUP_OPS = (
    "getGroupClicks",
    "getGroupMetricsByCountries",
    "getGroupMetricsByCities",
    "getGroupMetricsByDevices",
    "GetGroupMetricsByReferringNetworks",
)


def _compute(call: Call, link_keys: list[str], since: float | None) -> Reply:
    params: dict[str, Any] = dict(call.query)
    # Some metrics operations omit the window parameters from their description, yet take
    # them; they reach the computation unvalidated, which checks them itself.
    for name, value in call.raw_query:
        if name in _WINDOW_PARAMS and name not in call.op.query_params:
            params[name] = value
    if since is not None:
        params[SINCE_PARAM] = since
    try:
        body = METRIC_HANDLERS[call.op.operation_id](call.conn, link_keys, params, call.now)
    except MetricParamError as exc:
        raise field_error(exc.field, exc.message, call.resource) from None
    if call.op.operation_id in QUIRKY_OPERATIONS:
        body = real_traffic_form(body, call.store.salt, link_keys)
    return None, body


@handles(*_BITLINK_OPS)
def bitlink_metrics(call: Call) -> Reply:
    # A click through a custom bitlink is recorded under the bitlink it points to.
    row = link_by_key(call, bitlink_key(call.path["bitlink"]))
    return _compute(call, [row["key"]], row["created_ts"])


@handles(*_CUSTOM_OPS)
def custom_bitlink_metrics(call: Call) -> Reply:
    row = custom_row(call)
    destinations = [entry["link_key"] for entry in json.loads(row["history"])]
    return _compute(call, list(dict.fromkeys(destinations)), row["created_ts"])


@handles(*_GROUP_OPS)
def group_metrics(call: Call) -> Reply:
    guid = group_row(call, call.path["group_guid"])["guid"]
    rows = call.conn.execute(
        "SELECT key, created_ts FROM links WHERE group_guid = ? ORDER BY seq", (guid,)
    ).fetchall()
    since = min((r["created_ts"] for r in rows), default=None)
    return _compute(call, [r["key"] for r in rows], since)
