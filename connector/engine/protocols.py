"""What the engine needs from the catalog and the runner, as protocols.

The real implementations are `connector.catalog.Catalog` and `connector.runner.ActionRunner`;
tests drive the engine with small fakes that satisfy the same shapes.
"""

from __future__ import annotations

from typing import Any, Protocol

from connector.errors import FieldError

__all__ = ["ActionLike", "AppLike", "CatalogLike", "RunnerLike"]


class ActionLike(Protocol):
    app: str
    id: str
    idempotent: bool
    reconcile: str | None


class AppLike(Protocol):
    rate_limits: Any


class CatalogLike(Protocol):
    @property
    def apps(self) -> dict[str, Any]: ...

    @property
    def actions(self) -> dict[str, Any]: ...

    def get(self, action_id: str) -> Any: ...

    def prepare_inputs(
        self, action_id: str, raw: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]: ...

    def static_input_errors(self, action_id: str, raw: dict[str, Any]) -> list[FieldError]: ...


class RunnerLike(Protocol):
    async def run(self, action_id: str, prepared_inputs: dict[str, Any]) -> Any: ...

    async def reconcile(self, action_id: str, prepared_inputs: dict[str, Any]) -> Any | None: ...
