"""Request and response bodies of the trigger endpoints (`/openapi.json` is generated from
these): enabling a saved workflow's trigger, its state, and a hook's answer to a delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.engine.trigger_log import TriggerRow
from connector.service.models import _CONNECTION_DOC, MAX_VERSION, ConnectionNames

__all__ = ["EnableRequest", "HookAnswer", "TriggerView", "trigger_view"]


class EnableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="The version to enable (default latest)."
    )
    public_url: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="The service's address as the API calling a webhook reaches it (default: "
        "the address this request came to).",
        examples=["https://connector.example.com"],
    )
    connection: ConnectionNames = Field(
        None, description=_CONNECTION_DOC + "; for its polls, subscription and runs"
    )


class TriggerView(BaseModel):
    """A workflow's trigger in the service."""

    workflow_id: str
    version: int = Field(description="The workflow version its runs use.")
    kind: Literal["poll", "webhook", "schedule"]
    enabled: bool
    spec: dict[str, Any] = Field(description="The workflow's poll, webhook or schedule block.")
    connection: list[str] = Field(
        default_factory=list, description="The connections its polls and runs use."
    )
    hook_id: str | None = Field(
        default=None, description="A webhook trigger's hook (its URL's secret is not kept)."
    )
    hook_url: str | None = Field(
        default=None,
        description="The URL to POST deliveries to, secret included: answered once, by the "
        "enable call (enable again for a new one).",
    )
    subscription: dict[str, Any] | None = Field(
        default=None, description="What the API registered (Bitly: the webhook's guid)."
    )
    next_at: str | None = Field(default=None, description="Next poll or scheduled time (UTC).")
    last_fired_at: str | None = Field(default=None, description="A schedule's last time (UTC).")
    last_error: str | None = Field(default=None, description="Why the last poll failed.")
    events: dict[str, int] = Field(
        default_factory=dict,
        description="Events recorded, their runs started, rejected and pending.",
    )


class HookAnswer(BaseModel):
    run_id: str | None = Field(description="The run the delivery's event started (or had).")
    duplicate: bool = Field(description="True when this event was delivered before.")
    event_key: str = Field(description="What identifies the event (Bitly: its event_id).")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trigger_view(
    row: TriggerRow, counts: dict[str, int], hook_url: str | None = None
) -> TriggerView:
    return TriggerView(
        workflow_id=row.workflow_id,
        version=row.version,
        kind=row.kind,  # type: ignore[arg-type]
        enabled=row.enabled,
        spec=row.spec,
        connection=list(row.connections),
        hook_id=row.hook_id,
        hook_url=hook_url,
        subscription=row.subscription,
        next_at=_iso(row.due_at),
        last_fired_at=_iso(row.last_fired_at),
        last_error=row.last_error,
        events=counts,
    )
