"""Cassette plumbing for the catalog-wide test: where cassettes live, what they may hold.

Replay (the default, record mode `none`, as CI runs it) needs no server: the runner points at
fixed `.test` base URLs and vcr answers from `cassettes/<app>/<key>.yaml`, matching on method,
path, query and body, so the loopback port a cassette was recorded on does not matter.

Recording starts the embedded sandboxes, one fresh pair per action so that writes do not
depend on test order:

    .venv/bin/python -m pytest tests/catalog --record-mode=rewrite

With CONNECTOR_CASSETTE_TARGET=live it records against the real APIs instead, with the
credentials from BITLY_TOKEN / SHORTEN_API_KEY. Either way every cassette is scrubbed:
the Authorization header is dropped and every known credential is replaced by value in
URLs, bodies and headers; loopback or real base URLs are rewritten to the fixed ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connector.catalog import ActionSpec, Catalog, load_catalog
from connector.catalog.models import MISSING
from connector.redact import MASK
from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SHORTEN_KEY

REPO = Path(__file__).resolve().parents[2]
CASSETTES = REPO / "cassettes"
#: where replayed requests go; vcr answers them, nothing listens there
FIXED_BASES = {
    "bitly": "http://bitly.sandbox.test/v4",
    "shorten_dev": "http://shorten.sandbox.test/api/v1",
}
REPLAY_CREDENTIALS = {"bitly": "replay-bitly-credential", "shorten_dev": "replay-shorten-key"}
SCRUBBED_HEADERS = ("authorization", "cookie", "set-cookie", "x-api-key")
# Headers that differ between runs and mean nothing to a replay.
VOLATILE_HEADERS = ("date", "server", "x-request-id", "connection", "accept-encoding")


@pytest.fixture
def target_class() -> type[Target]:
    return Target


@dataclass
class Target:
    """Where requests go during this session, and how to rewrite them for the cassette."""

    base_urls: dict[str, str]
    credentials: dict[str, str]
    #: actual base URL -> fixed base URL, applied to everything a cassette stores
    rewrites: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    def scrub(self, text: str) -> str:
        for actual, fixed in self.rewrites.items():
            text = text.replace(actual, fixed)
            root, fixed_root = _root(actual), _root(fixed)
            text = text.replace(root, fixed_root)
            # The Host header carries the bare host:port.
            text = text.replace(root.split("://", 1)[1], fixed_root.split("://", 1)[1])
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, MASK)
        return text


def _root(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


#: demo data both sandboxes load from the demo seed (same seed, same links)
DEMO_BITLINK = "bit.ly/spring-sale"
DEMO_SLUG = "spring-363"
#: inputs a replay runs with, beyond each required input's manifest example
REPLAY_INPUTS: dict[str, dict[str, Any]] = {
    "bitly.get_link_click_metrics": {"unit": "day", "units": 7, "include_breakdowns": True},
    "bitly.get_clicks_summary": {"unit": "day", "units": 30},
    "bitly.list_group_bitlinks": {"size": 10},
    "bitly.update_bitlink": {"title": "Spring sale (extended)"},
    "shorten_dev.create_link": {"custom_slug": "replay-spring"},
    "shorten_dev.list_links": {"limit": 30, "page_size": 10},
    "shorten_dev.get_link_analytics": {"period": "30d"},
}


def _replay_inputs(action: ActionSpec) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for spec in action.inputs:
        if spec.format == "bitlink":
            raw[spec.key] = DEMO_BITLINK
        elif spec.key == "slug":
            raw[spec.key] = DEMO_SLUG
        elif spec.required and spec.example is not None and spec.example is not MISSING:
            raw[spec.key] = spec.example
    raw.update(REPLAY_INPUTS.get(action.id, {}))
    return raw


@pytest.fixture
def replay_inputs() -> Any:
    """Inputs each action runs with in replays and live sandbox runs."""
    return _replay_inputs


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture
def default_cassette_name(request: pytest.FixtureRequest) -> str:
    app, key = request.node.callspec.params["action_id"].split(".", 1)
    return f"{app}/{key}"


@pytest.fixture
def target(record_mode: str) -> Iterator[Target]:
    secrets = (DEMO_BITLY_TOKEN, DEMO_SHORTEN_KEY)
    if record_mode == "none":
        yield Target(dict(FIXED_BASES), dict(REPLAY_CREDENTIALS), secrets=secrets)
        return
    if os.environ.get("CONNECTOR_CASSETTE_TARGET") == "live":
        env_names = {"bitly": ("BITLY_API_URL", "BITLY_TOKEN"),
                     "shorten_dev": ("SHORTEN_API_URL", "SHORTEN_API_KEY")}  # fmt: skip
        catalog = load_catalog()
        bases = {
            app: os.environ.get(url_env) or catalog.apps[app].base_url
            for app, (url_env, _) in env_names.items()
        }
        creds = {app: os.environ.get(cred_env, "") for app, (_, cred_env) in env_names.items()}
        yield Target(
            bases, creds, {bases[a]: FIXED_BASES[a] for a in bases}, (*secrets, *creds.values())
        )
        return
    from connector.sandbox.embedded import embedded_sandboxes

    with embedded_sandboxes() as boxes:
        bases = dict(boxes.base_urls)
        yield Target(
            bases,
            dict(boxes.credentials),
            {bases[a]: FIXED_BASES[a] for a in bases},
            (*secrets, *boxes.credentials.values()),
        )


@pytest.fixture
def vcr_config(target: Target) -> dict[str, Any]:
    return scrubbing_config(target)


@pytest.fixture
def make_vcr_config() -> Any:
    """For tests that record a cassette of their own."""
    return scrubbing_config


def scrubbing_config(target: Target) -> dict[str, Any]:
    """vcr settings: drop secret headers, replace secrets and base URLs by value."""

    def before_request(request: Any) -> Any:
        request.uri = target.scrub(request.uri)
        if request.body:
            body = request.body
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            request.body = target.scrub(text).encode()
        for name in list(request.headers):
            if name.lower() in SCRUBBED_HEADERS or name.lower() in VOLATILE_HEADERS:
                del request.headers[name]
            else:
                request.headers[name] = target.scrub(str(request.headers[name]))
        return request

    def before_response(response: dict[str, Any]) -> dict[str, Any]:
        body = response.get("body", {}).get("string", b"")
        if body:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            response["body"]["string"] = target.scrub(text).encode()
        headers = response.get("headers", {})
        for name in list(headers):
            if name.lower() in SCRUBBED_HEADERS or name.lower() in VOLATILE_HEADERS:
                del headers[name]
            elif name.lower() == "content-length":
                headers[name] = [str(len(response["body"]["string"]))]
            else:
                headers[name] = [target.scrub(str(v)) for v in headers[name]]
        return response

    return {
        "filter_headers": list(SCRUBBED_HEADERS),
        "before_record_request": before_request,
        "before_record_response": before_response,
        "match_on": ["method", "path", "query", "body"],
        "decode_compressed_response": True,
    }
