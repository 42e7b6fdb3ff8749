"""Cassettes: where they live, how one is recorded and replayed, what it may hold.

`cassettes/<app>/<key>.yaml` holds the HTTP exchanges of one run of the action `<app>.<key>`
with its replay inputs (`replay_inputs`). Recording (`python -m tools.record_cassettes`) runs
the action against fresh embedded sandboxes whose clock is frozen at `FROZEN_INSTANT`, so
that demo links, clicks and metrics windows, and so every byte written, are the same on any
day: recording one action rewrites its own cassette and no other, and re-recording an
unchanged action gives the bytes already committed.

Replay needs no server: the runner points at a fixed base URL per app (nothing listens there)
and vcr answers from the cassette, matching on method, path, query and body.

Every cassette is scrubbed as it is written: secret headers are dropped, every known
credential is replaced by value in URLs, bodies and headers, and the loopback (or real) base
URLs are rewritten to the fixed ones. With `live=True` the recording goes to the real APIs
instead, with the credentials and base URLs from each app's environment variables.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import vcr as vcrpy

from connector.catalog import ActionSpec, Catalog
from connector.catalog.models import MISSING
from connector.redact import MASK
from connector.runner import ActionRunner
from connector.sandbox.config import frozen_clock
from connector.sandbox.controls import Controls
from connector.sandbox.embedded import EmbeddedSandboxes, embedded_sandboxes
from connector.triggers import parse_delivery, subscribe, unsubscribe

REPO = Path(__file__).resolve().parents[2]
CASSETTES = REPO / "cassettes"
RECORD_COMMAND = "python -m tools.record_cassettes"
SCRUBBED_HEADERS = ("authorization", "cookie", "set-cookie", "x-api-key")
# Headers that differ between runs and mean nothing to a replay.
VOLATILE_HEADERS = ("date", "server", "x-request-id", "connection", "accept-encoding")
MATCH_ON = ("method", "path", "query", "body")

#: Demo data the sandboxes load from the demo seed: an input of format `bitlink` gets the
#: demo Bitlink, an input named `slug` the demo shorten.dev slug.
DEMO_BITLINK = "bit.ly/spring-sale"
DEMO_SLUG = "spring-363"
#: Optional, per action: inputs a replay runs with beyond the derived ones (a wider window,
#: the breakdowns on, a slug of our own). A new action needs no entry when the examples of its
#: required inputs exist in the demo data.
REPLAY_INPUTS: dict[str, dict[str, Any]] = {
    "bitly.get_link_click_metrics": {"unit": "day", "units": 7, "include_breakdowns": True},
    "bitly.get_clicks_summary": {"unit": "day", "units": 30},
    "bitly.list_group_bitlinks": {"size": 10},
    "bitly.update_bitlink": {"title": "Spring sale (extended)"},
    "bitly.get_custom_bitlink": {"custom_bitlink": "sbx.ly/launch"},
    "bitly.get_custom_bitlink_clicks": {"custom_bitlink": "sbx.ly/launch"},
    "bitly.get_custom_bitlink_clicks_by_destination": {"custom_bitlink": "sbx.ly/launch"},
    "bitly.add_custom_bitlink": {"custom_bitlink": "sbx.ly/summer"},
    "bitly.update_custom_bitlink": {
        "custom_bitlink": "sbx.ly/launch",
        "bitlink_id": "bit.ly/docs-start",
    },
    "bitly.update_campaign": {"name": "Spring Launch (extended)"},
    "bitly.update_channel": {"name": "Newsletter (weekly)"},
    "bitly.update_group": {"name": "Marketing"},
    "bitly.update_user": {"name": "Demo User"},
    "bitly.update_webhook": {"is_active": False},
    "bitly.update_qr_code": {"color": "1133ff"},
    "bitly.update_group_bitlinks": {"add_tags": ["q2"]},
    "bitly.list_top_bitlinks_by_clicks": {"units": 30, "size": 5},
    "bitly.archive_or_tag_links": {"tags": ["sale"], "add_tags": ["q2-review"]},
    "bitly.campaign_performance_report": {"units": 30, "size": 5},
    # a Known Bitlink that answers 404: the group is searched, then the link created
    "bitly.find_or_create_bitlink": {"bitlink": "bit.ly/gone-1234"},
    "shorten_dev.create_link": {"custom_slug": "replay-spring"},
    "shorten_dev.list_links": {"limit": 30, "page_size": 10},
    "shorten_dev.get_link_analytics": {"period": "30d"},
}


def replay_inputs(action: ActionSpec) -> dict[str, Any]:
    """The raw inputs `action` is recorded, replayed and run on the sandbox with."""
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


def cassette_path(action_id: str, root: Path = CASSETTES) -> Path:
    app, key = action_id.split(".", 1)
    return root / app / f"{key}.yaml"


def missing_message(action_id: str, root: Path = CASSETTES) -> str:
    where = cassette_path(action_id, root)
    shown = where.relative_to(REPO) if where.is_relative_to(REPO) else where
    return (
        f"no cassette for {action_id} ({shown}): record it against the sandbox with "
        f"`{RECORD_COMMAND} {action_id}` (or `{RECORD_COMMAND}` for every missing one)"
    )


def fixed_base(app_key: str, base_url: str) -> str:
    """Where replayed requests for the app go: a `.test` host (never resolvable) with the
    API's own path, so recorded paths read like the vendor's."""
    return f"http://{app_key.replace('_', '-')}.sandbox.test{urlsplit(base_url).path.rstrip('/')}"


def fixed_bases(catalog: Catalog) -> dict[str, str]:
    return {key: fixed_base(key, app.base_url) for key, app in catalog.apps.items()}


@dataclass
class Target:
    """Where requests go, and how to rewrite what a cassette stores."""

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


def replay_target(catalog: Catalog) -> Target:
    credentials = {app: f"replay-{app.replace('_', '-')}-credential" for app in catalog.apps}
    return Target(fixed_bases(catalog), credentials)


@contextmanager
def frozen_sandboxes() -> Iterator[EmbeddedSandboxes]:
    """Fresh embedded sandboxes with demo data, frozen at FROZEN_INSTANT, without rate limits:
    a frozen clock never reopens a rate window, so a limit once reached would hold forever."""
    with embedded_sandboxes(now=frozen_clock(), controls=Controls()) as boxes:
        yield boxes


@contextmanager
def sandbox_target(catalog: Catalog) -> Iterator[Target]:
    """A fresh set of frozen sandboxes, and how to scrub what they answer."""
    fixed = fixed_bases(catalog)
    with frozen_sandboxes() as boxes:
        bases = dict(boxes.base_urls)
        yield Target(
            bases,
            dict(boxes.credentials),
            {bases[app]: fixed[app] for app in bases if app in fixed},
            tuple(boxes.credentials.values()),
        )


@contextmanager
def live_target(catalog: Catalog, env: Mapping[str, str]) -> Iterator[Target]:
    """The real APIs, with each app's base URL and credential from its environment variables."""
    fixed = fixed_bases(catalog)
    bases = {key: env.get(app.base_url_env) or app.base_url for key, app in catalog.apps.items()}
    credentials = {key: env.get(app.credential_env, "") for key, app in catalog.apps.items()}
    yield Target(
        bases, credentials, {bases[a]: fixed[a] for a in bases}, tuple(credentials.values())
    )


def scrubbing_config(target: Target) -> dict[str, Any]:
    """vcr settings: drop secret and volatile headers, replace secrets and base URLs by value."""

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
        "match_on": list(MATCH_ON),
        "decode_compressed_response": True,
    }


#: where a webhook trigger's recorded subscription points (nothing is sent there)
HOOK_URL = "https://hooks.example.com/connector/v1/hooks/replay"


async def webhook_lifecycle(runner: ActionRunner, action_id: str, raw: dict[str, Any]) -> Any:
    """A webhook trigger's life: subscribed, unsubscribed, and its sample parsed as a
    delivery (the event: what a run of a workflow it triggers starts from)."""
    catalog = runner.catalog
    subscription = await subscribe(runner, action_id, raw, HOOK_URL)
    await unsubscribe(runner, action_id, raw, subscription)
    return await parse_delivery(catalog, action_id, raw, catalog.get(action_id).output_sample)


def run_action(catalog: Catalog, target: Target, action_id: str) -> Any:
    """Run the action once with its replay inputs against `target`; its output. A webhook
    trigger runs its `webhook_lifecycle`."""
    action = catalog.get(action_id)
    raw = replay_inputs(action)
    prepared = catalog.prepare_inputs(action_id, raw, {})
    webhook = action.trigger is not None and action.trigger.type == "webhook"

    async def go() -> Any:
        async with ActionRunner(
            catalog, base_urls=target.base_urls, credentials=target.credentials, env={}
        ) as runner:
            if webhook:
                return await webhook_lifecycle(runner, action_id, raw)
            return await runner.run(action_id, prepared)

    return asyncio.run(go())


class RecordingFailed(Exception):
    """The action failed while being recorded; its cassette was left as it was."""


def record(
    catalog: Catalog,
    action_ids: list[str],
    root: Path = CASSETTES,
    *,
    live: bool = False,
    env: Mapping[str, str] | None = None,
) -> list[Path]:
    """Record each action's cassette under `root`, each on a target of its own; the paths
    written. A cassette is replaced only once its action has succeeded."""
    written = []
    for action_id in action_ids:
        catalog.get(action_id)
        final = cassette_path(action_id, root)
        final.parent.mkdir(parents=True, exist_ok=True)
        target_cm = live_target(catalog, env or os.environ) if live else sandbox_target(catalog)
        with tempfile.TemporaryDirectory(dir=final.parent, prefix=".recording-") as scratch:
            partial = Path(scratch) / final.name
            with target_cm as target:
                recorder = vcrpy.VCR(record_mode="all", **scrubbing_config(target))
                try:
                    with recorder.use_cassette(str(partial)):
                        run_action(catalog, target, action_id)
                except Exception as exc:
                    raise RecordingFailed(f"{action_id}: {type(exc).__name__}: {exc}") from exc
            if not partial.exists():
                raise RecordingFailed(f"{action_id}: the action made no HTTP request")
            os.replace(partial, final)
        written.append(final)
    return written


@dataclass
class Replay:
    output: Any
    play_count: int
    all_played: bool


def replay(catalog: Catalog, action_id: str, root: Path = CASSETTES) -> Replay:
    """Run the action from its cassette alone (record mode `none`: nothing reaches a network).

    Raises FileNotFoundError saying how to record the cassette when it is missing.
    """
    path = cassette_path(action_id, root)
    if not path.is_file():
        raise FileNotFoundError(missing_message(action_id, root))
    target = replay_target(catalog)
    player = vcrpy.VCR(record_mode="none", **scrubbing_config(target))
    with player.use_cassette(str(path)) as cassette:
        output = run_action(catalog, target, action_id)
        return Replay(output, cassette.play_count, cassette.all_played)


def orphan_cassettes(catalog: Catalog, root: Path = CASSETTES) -> list[str]:
    """Cassette files under `root` that belong to no action of the catalog."""
    known = {cassette_path(action_id, root) for action_id in catalog.actions}
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml") if p not in known)
