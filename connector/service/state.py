"""What every route reaches through `request.app.state.service`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from connector.engine.runlog import RunLog
from connector.engine.runlog_items_counts import LoopCounts
from connector.service.auth import Auth
from connector.service.config import ServiceConfig
from connector.service.connection_store import ConnectionStore
from connector.service.launcher import RunLauncher
from connector.service.store import Store
from connector.service.trigger_views import TriggerShapes

__all__ = ["ServiceState", "State", "service"]


@dataclass
class ServiceState:
    config: ServiceConfig
    catalog: Any
    auth: Auth
    store: Store
    launcher: RunLauncher
    export: dict[str, Any]
    #: action id -> its document in the export
    actions: dict[str, dict[str, Any]]
    connections: ConnectionStore
    #: running loops' counts of the items that can no longer change, kept across views
    loop_counts: LoopCounts = field(default_factory=LoopCounts)
    #: which runs' trigger payloads are too big to return whole in a view, and their shapes
    triggers: TriggerShapes = field(default_factory=TriggerShapes)

    def runlog(self) -> RunLog:
        # One connection per request: sqlite3 connections stay on their thread, and the
        # background runs write through their own.
        return RunLog(self.config.runlog_target)


def service(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


#: a route's parameter: `state: State`
State = Annotated[ServiceState, Depends(service)]
