"""What every route reaches through `request.app.state.service`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from connector.engine.runlog import RunLog
from connector.service.auth import Auth
from connector.service.config import ServiceConfig
from connector.service.connection_store import ConnectionStore
from connector.service.launcher import RunLauncher
from connector.service.store import Store

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

    def runlog(self) -> RunLog:
        # One connection per request: sqlite3 connections stay on their thread, and the
        # background runs write through their own.
        return RunLog(self.config.runlog_target)


def service(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


#: a route's parameter: `state: State`
State = Annotated[ServiceState, Depends(service)]
