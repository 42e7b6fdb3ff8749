"""The Bitly sandbox on loopback with one campaign whose every read is answered 503 (a fault
that does not depend on the order requests arrive in), and how many reads it was sent:
for the tests of a composite's tries surviving its worker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from connector.sandbox.bitly.app import create_app
from connector.sandbox.config import SandboxConfig
from connector.sandbox.controls import Controls, Faults
from connector.sandbox.server import BackgroundServer

#: the campaign whose reads fail
CAMPAIGN = "Cfailing01"
#: the sandbox's count of the reads
READ = "GET /v4/campaigns/{campaign_guid}"


@dataclass
class FailingBitly:
    app: Any
    #: the API's base URL
    url: str

    def reads(self) -> int:
        """Reads of the campaign (any campaign) the sandbox was sent."""
        return int(self.app.state.counts.get(READ, 0))


@contextmanager
def failing_bitly() -> Iterator[FailingBitly]:
    controls = Controls(faults=Faults(fail_paths=(f"/campaigns/{CAMPAIGN}",)))
    app = create_app(SandboxConfig(seed=None, controls=controls))
    with BackgroundServer(app) as server:
        yield FailingBitly(app, server.url + "/v4")
