"""Every installed app's sandbox on a loopback port for the length of a `with` block (demos,
tests, `--sandbox`). Apps bring their sandboxes as plugins (connector.sandbox.plugin).

with embedded_sandboxes() as sandboxes:
    runner = ActionRunner(catalog, base_urls=sandboxes.base_urls,
                          credentials=sandboxes.credentials)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette

from connector.sandbox.config import DEMO_SEED, SandboxConfig
from connector.sandbox.controls import Controls
from connector.sandbox.plugin import installed_sandboxes
from connector.sandbox.server import BackgroundServer

__all__ = ["EmbeddedSandboxes", "embedded_sandboxes"]


@dataclass
class EmbeddedSandboxes:
    #: app name -> API base URL ("http://127.0.0.1:P/v4", "http://127.0.0.1:Q/api/v1")
    base_urls: dict[str, str] = field(default_factory=dict)
    #: app name -> the demo credential each sandbox accepts
    credentials: dict[str, str] = field(default_factory=dict)
    #: app name -> the running app (`.state.counts`, `.state.store`)
    apps: dict[str, Starlette] = field(default_factory=dict)
    #: app name -> server root ("http://127.0.0.1:P"), where short links redirect
    roots: dict[str, str] = field(default_factory=dict)


@contextmanager
def embedded_sandboxes(
    *,
    seed: int | None = DEMO_SEED,
    controls: Controls | None = None,
    now: Callable[[], float] | None = None,
) -> Iterator[EmbeddedSandboxes]:
    """Start the sandbox of every installed app that has one, with demo data from `seed`.

    `controls` (limits and faults) applies to all; each app keeps its own counts, windows
    and fault sequence. Without it, each sandbox enforces its plugin's `embedded_limits` (the
    Bitly sandbox: a basic account's, as its platform_limits endpoint reports them). `now`
    replaces the wall clock (`config.frozen_clock()` for cassettes). The servers stop when
    the block ends.
    """
    shared = controls if controls is not None else Controls()
    clock = now or time.time
    boxes = installed_sandboxes()
    result = EmbeddedSandboxes()
    for name, box in boxes.items():
        own = box.embedded_limits
        mine = shared if controls is not None or own is None else Controls(limits=own())
        config = SandboxConfig(seed=seed, controls=mine, now=clock)
        result.apps[name] = box.create_app(config, {})
        result.credentials[name] = box.demo_credential
    with ExitStack() as stack:
        for name, app in result.apps.items():
            server = stack.enter_context(BackgroundServer(app))
            result.roots[name] = server.url
            result.base_urls[name] = server.url + boxes[name].api_path
        yield result
