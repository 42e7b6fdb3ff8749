"""Every shorten.dev endpoint answers in the documented shape (connector/vendor facts).

The facts file is the same one `connector catalog validate` checks manifests against, so
the sandbox, the manifests and the docs cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector.vendor import load_vendor_facts

from .conftest import Api


def shape_problems(operation_id: str, status: int, body: Any) -> list[str]:
    facts = load_vendor_facts("shorten_dev")
    assert facts is not None
    schema = facts.by_id(operation_id).responses.get(str(status), "undeclared")
    assert schema != "undeclared", f"{operation_id} declares no {status}"
    if schema is None:  # documented status, undocumented body
        return []
    return [e.message for e in Draft202012Validator(schema).iter_errors(body)]


def test_facts_cover_the_six_documented_endpoints() -> None:
    facts = load_vendor_facts("shorten_dev")
    assert facts is not None
    assert sorted((op.method, op.path) for op in facts.operations) == [
        ("GET", "/links"),
        ("GET", "/links/{slug}"),
        ("GET", "/links/{slug}/analytics"),
        ("POST", "/links"),
        ("POST", "/links/bulk"),
        ("POST", "/links/{slug}/revoke"),
    ]


def test_success_answers_have_the_documented_shapes(api: Api) -> None:
    calls: list[tuple[str, Any]] = []
    created = api.create(destination_url="https://example.com/a", custom_slug="shape-a", tags=["x"])
    calls.append(("createLink", created))
    calls.append(
        (
            "bulkCreateLinks",
            api(
                "POST",
                "/api/v1/links/bulk",
                json={"links": [{"destination_url": "https://e.com/b"}]},
            ),
        )
    )
    calls.append(("listLinks", api("GET", "/api/v1/links", params={"limit": 50, "sort": "slug"})))
    calls.append(("getLink", api("GET", "/api/v1/links/shape-a")))
    analytics = "/api/v1/links/shape-a/analytics"
    for period in ("7d", "30d", "90d"):
        calls.append(("getLinkAnalytics", api("GET", analytics, params={"period": period})))
    calls.append(("revokeLink", api("POST", "/api/v1/links/shape-a/revoke")))
    for op, response in calls:
        assert response.status_code < 300, (op, response.text)
        assert shape_problems(op, response.status_code, response.json()) == [], op


@pytest.mark.parametrize(
    ("operation_id", "method", "path", "kw", "status"),
    [
        ("createLink", "POST", "/api/v1/links", {"json": {"destination_url": "ftp://x"}}, 400),
        ("getLink", "GET", "/api/v1/links/nope-404", {}, 404),
        ("getLinkAnalytics", "GET", "/api/v1/links/nope-404/analytics", {}, 404),
        ("listLinks", "GET", "/api/v1/links", {"params": {"limit": 51}}, 400),
        ("revokeLink", "POST", "/api/v1/links/nope-404/revoke", {}, 404),
        ("bulkCreateLinks", "POST", "/api/v1/links/bulk", {"json": {"links": []}}, 400),
    ],
)
def test_error_answers_have_the_documented_shape(
    api: Api, operation_id: str, method: str, path: str, kw: dict[str, Any], status: int
) -> None:
    response = api(method, path, **kw)
    assert response.status_code == status, response.text
    assert shape_problems(operation_id, status, response.json()) == []
