"""What keeps a saved workflow's trigger going in the service: enabling and disabling it,
polling on its interval, firing its schedule, receiving its webhook deliveries, and starting
one run per event.

Every event goes through the run log's `trigger_events` (connector/engine/trigger_log.py)
before its run starts, and its run's row claims it in the same transaction. So a poll's
events commit with the state they move to, a webhook event id is recorded once however
often Bitly sends it, a schedule records one event per fire time (after downtime only the
latest missed one), and a restart starts what was recorded but not yet started: nothing
repeated, nothing missed. A run killed half-way stays in the log as interrupted, retried
with one click like any other.

Time is `clock.wall()` (a FakeClock in tests, which drive `tick()` themselves); under a
real server `start()` runs `tick()` about once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector import errors as E
from connector.api import poll_trigger, subscribe_webhook, unsubscribe_webhook
from connector.clock import Clock, SystemClock
from connector.engine.executor import Engine, RunResult
from connector.engine.runlog import RunLog
from connector.engine.trigger_log import TriggerEvent, TriggerLog, TriggerRow
from connector.engine.workflow import WorkflowInvalid, resolve_trigger, validate_workflow
from connector.engine.workflow_model import (
    PollTriggerDoc,
    ScheduleTriggerDoc,
    WebhookTriggerDoc,
    WorkflowDoc,
)
from connector.redact import redact
from connector.service.connections_api import credentials_for
from connector.service.problems import ServiceProblem
from connector.service.state import ServiceState
from connector.triggers import event_key, parse_delivery
from connector.triggers.schedule import fire_key, latest_fire, next_fire
from connector.triggers.webhook import key_at

__all__ = ["Delivered", "Enabled", "TriggerProblem", "TriggerRuntime"]

log = logging.getLogger("connector.service")

#: how often a running server looks for due triggers and pending events (seconds)
TICK = 1.0
_KINDS = {PollTriggerDoc: "poll", WebhookTriggerDoc: "webhook", ScheduleTriggerDoc: "schedule"}


class TriggerProblem(Exception):
    """Enabling, disabling or a delivery refused: an HTTP status and a one-line reason."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


@dataclass(frozen=True)
class Enabled:
    row: TriggerRow
    #: the hook's URL with its secret: shown once, when a webhook trigger is enabled
    hook_url: str | None


@dataclass(frozen=True)
class Delivered:
    run_id: str | None
    duplicate: bool
    event_key: str


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class TriggerRuntime:
    def __init__(self, state: ServiceState) -> None:
        self.service = state
        self.config = state.config
        self.catalog = state.catalog
        self.store = state.store
        self.launcher = state.launcher
        self._runlog: Callable[[], RunLog] = state.runlog
        self.clock: Clock = state.config.clock or SystemClock()
        self._task: asyncio.Task[None] | None = None
        self._ticking = asyncio.Lock()

    # --- the run log's trigger tables --------------------------------------------------------

    @contextlib.contextmanager
    def _log(self) -> Any:
        with self._runlog() as runlog:
            yield TriggerLog(runlog.store)

    def triggers(self) -> list[tuple[TriggerRow, dict[str, int]]]:
        with self._log() as log_:
            return [(row, log_.event_counts(row.workflow_id)) for row in log_.all()]

    def trigger(self, workflow_id: str) -> tuple[TriggerRow, dict[str, int]] | None:
        with self._log() as log_:
            row = log_.get(workflow_id)
            return None if row is None else (row, log_.event_counts(workflow_id))

    # --- enabling -----------------------------------------------------------------------------

    def _workflow(self, workflow_id: str, version: int | None) -> tuple[int, Any]:
        saved = self.store.workflow(workflow_id, version)
        if saved is None:
            what = f" version {version}" if version else ""
            raise TriggerProblem(404, f"no saved workflow {workflow_id!r}{what}")
        try:
            workflow = validate_workflow(saved["workflow"], self.catalog)
        except WorkflowInvalid as exc:
            raise TriggerProblem(422, f"the saved workflow is not valid: {exc}") from None
        return int(saved["version"]), workflow

    def _source(self, workflow: Any) -> tuple[str, Any]:
        doc = WorkflowDoc.model_validate(workflow.document)
        source = doc.trigger.source if doc.trigger is not None else None
        if source is None:
            raise TriggerProblem(
                422,
                "the workflow's trigger has none of poll, webhook and schedule: nothing to "
                "enable (add one under `trigger`)",
                "trigger",
            )
        kind = _KINDS[type(source)]
        action_id = getattr(source, "action", None)
        if action_id is not None:
            self._check_action(kind, action_id)
        if isinstance(source, PollTriggerDoc):  # refused now, not failing every poll later
            try:
                self.catalog.prepare_inputs(source.action, dict(source.inputs), {})
            except E.InvalidInput as exc:
                raise TriggerProblem(422, str(exc), "trigger.poll.inputs") from None
        return kind, source

    def _check_action(self, kind: str, action_id: str) -> None:
        field = f"trigger.{kind}.action"
        try:
            action = self.catalog.get(action_id)
        except E.ConnectorError as exc:
            raise TriggerProblem(422, str(exc), field) from None
        wanted = "polling" if kind == "poll" else "webhook"
        found = action.trigger.type if action.trigger is not None else None
        if found != wanted:
            what = f"a {found} trigger" if found else f"a {action.kind}, not a trigger"
            raise TriggerProblem(422, f"{action_id} is {what}; {kind} needs a {wanted} one", field)

    def _credentials(self, names: list[str]) -> dict[str, str] | None:
        """The credentials of the named connections (the service's own for the rest)."""
        try:
            credentials, _ = credentials_for(self.service, names)
        except ServiceProblem as exc:  # a connection deleted or unreadable since
            raise TriggerProblem(422, exc.detail, "connection") from None
        return credentials

    async def enable(
        self,
        workflow_id: str,
        *,
        version: int | None,
        public_url: str,
        connection: str | list[str] | None = None,
    ) -> Enabled:
        """Enable the workflow's trigger (its latest version, or `version`); enabling an
        enabled one sets it up again (a webhook gets a new secret and subscription)."""
        number, workflow = self._workflow(workflow_id, version)
        kind, source = self._source(workflow)
        if kind == "schedule":
            self._payload(workflow, kind, {"scheduled_at": fire_key(0)})  # fits its schema?
        await self._teardown(workflow_id)
        now = self.clock.wall()
        spec = source.model_dump(mode="json", exclude_none=True)
        names = [connection] if isinstance(connection, str) else list(connection or [])
        credentials = self._credentials(names)
        if names:
            spec["connection"] = names
        hook_url = hook_id = secret_hash = subscription = None
        due: float | None = now
        if kind == "schedule":
            due = next_fire(source.cron, source.timezone, now)
        elif kind == "webhook":
            due = None
            hook_id = "hk_" + secrets.token_hex(8)
            secret = secrets.token_urlsafe(32)
            secret_hash = _sha256(secret)
            hook_url = f"{public_url.rstrip('/')}/v1/hooks/{hook_id}.{secret}"
            if source.action is not None:
                subscription = await self._call(
                    subscribe_webhook(
                        source.action, source.inputs, hook_url, **self._targets(credentials)
                    ),
                    f"subscribing {source.action}",
                )
        with self._log() as log_:
            log_.enable(
                workflow_id,
                version=number,
                kind=kind,
                spec=spec,
                now=now,
                due_at=due,
                hook_id=hook_id,
                hook_secret_sha256=secret_hash,
                subscription=subscription,
            )
            row = log_.get(workflow_id)
        assert row is not None
        return Enabled(row, hook_url)

    async def disable(self, workflow_id: str) -> TriggerRow:
        if self.store.workflow(workflow_id, None) is None:
            raise TriggerProblem(404, f"no saved workflow {workflow_id!r}")
        await self._teardown(workflow_id)
        with self._log() as log_:
            log_.disable(workflow_id, now=self.clock.wall())
            row = log_.get(workflow_id)
        if row is None:
            raise TriggerProblem(404, f"workflow {workflow_id!r} has no trigger enabled")
        return row

    async def _teardown(self, workflow_id: str) -> None:
        """Unsubscribe an enabled webhook trigger, then mark it disabled (so a failed
        re-subscription leaves it off, not pointing at a deleted webhook). A failure to
        unsubscribe keeps it enabled: disable again to retry."""
        with self._log() as log_:
            row = log_.get(workflow_id)
        if row is None or not row.enabled or not row.subscription:
            return
        action = row.spec.get("action")
        if action:
            await self._call(
                unsubscribe_webhook(
                    action,
                    row.spec.get("inputs", {}),
                    row.subscription,
                    **self._targets(self._credentials(row.connections)),
                ),
                f"unsubscribing {action}",
            )
        with self._log() as log_:
            log_.disable(workflow_id, now=self.clock.wall())

    def _targets(self, credentials: dict[str, str] | None) -> dict[str, Any]:
        return {
            "catalog": self.catalog,
            "base_urls": self.config.base_urls,
            "credentials": credentials,
        }

    @staticmethod
    async def _call(call: Any, doing: str) -> Any:
        try:
            return await call
        except E.InvalidInput as exc:
            raise TriggerProblem(422, f"{doing}: {exc}", "trigger") from None
        except E.ConnectorError as exc:
            raise TriggerProblem(502, f"{doing} failed: {exc}") from None

    # --- webhook deliveries -------------------------------------------------------------------

    def _hook(self, token: str) -> TriggerRow:
        hook_id, _, secret = token.partition(".")
        with self._log() as log_:
            row = log_.by_hook(hook_id) if hook_id.startswith("hk_") and secret else None
        expected = (row.hook_secret_sha256 or "") if row is not None else _sha256("-")
        # Compared in constant time, and compared even for an unknown id.
        if not hmac.compare_digest(_sha256(secret), expected) or row is None:
            raise TriggerProblem(404, "no such hook (disabled, or the URL is not complete)")
        return row

    async def deliver(self, token: str, payload: Any) -> Delivered:
        """One delivery to a hook: its event recorded once (by its id) and its run started."""
        row = self._hook(token)
        spec = row.spec
        action_id = spec.get("action")
        if action_id:
            try:
                inputs = spec.get("inputs", {})
                event = await parse_delivery(self.catalog, action_id, inputs, payload)
            except E.InvalidInput as exc:
                raise TriggerProblem(422, str(exc), "body") from None
            key = event_key(self.catalog.get(action_id), event)
        else:
            event = payload
            path = spec.get("event_id")
            found = key_at(payload, path) if path else "delivery-" + secrets.token_hex(12)
            if found is None:
                raise TriggerProblem(
                    422, f"the payload has no {path!r} (a string or a number) to tell it apart",
                    "body",
                )  # fmt: skip
            key = found
        _, workflow = self._workflow(row.workflow_id, row.version)
        self._payload(workflow, row.kind, event)  # refused now (422), not recorded to fail later
        with self._log() as log_:
            new = log_.record_delivery(row.workflow_id, key, event, now=self.clock.wall())
            if not new:
                found = log_.event(row.workflow_id, key)
                return Delivered(found.run_id if found else None, True, key)
            recorded = log_.event(row.workflow_id, key)
        assert recorded is not None
        return Delivered(await self._start(recorded), False, key)

    # --- polling and schedules ----------------------------------------------------------------

    async def tick(self) -> None:
        """Poll what is due, fire what is due, start every recorded event's run."""
        async with self._ticking:
            now = self.clock.wall()
            with self._log() as log_:
                due = log_.due(now)
            for row in due:
                if row.kind == "poll":
                    await self._poll(row)
                elif row.kind == "schedule":
                    self._fire(row, now)
            await self.start_pending()

    async def _poll(self, row: TriggerRow) -> None:
        spec = PollTriggerDoc.model_validate(
            {k: v for k, v in row.spec.items() if k != "connection"}
        )
        now = self.clock.wall()
        try:
            targets = self._targets(self._credentials(row.connections))
            result = await poll_trigger(
                spec.action, spec.inputs, row.state, replay=spec.replay, **targets
            )
            action = self.catalog.get(spec.action)
            events = [(event_key(action, event), event) for event in result.events]
        except (E.ConnectorError, TriggerProblem) as exc:
            # The state stays where it was: the next poll asks again from there.
            log.warning("polling %s for %s failed: %s", spec.action, row.workflow_id, exc)
            with self._log() as log_:
                log_.note_error(row.workflow_id, redact(str(exc)), due_at=now + spec.interval)
            return
        with self._log() as log_:
            log_.record_poll(row, events, result.state, now=now, due_at=now + spec.interval)

    def _fire(self, row: TriggerRow, now: float) -> None:
        spec = ScheduleTriggerDoc.model_validate(
            {k: v for k, v in row.spec.items() if k != "connection"}
        )
        fired = latest_fire(spec.cron, spec.timezone, now)
        nxt = next_fire(spec.cron, spec.timezone, now)
        payload = {"scheduled_at": fire_key(fired)}
        with self._log() as log_:
            if row.last_fired_at is not None and fired <= row.last_fired_at:
                log_.note_error(row.workflow_id, None, due_at=nxt)  # nothing new to fire
                return
            log_.record_fire(row, fire_key(fired), payload, fired_at=fired, now=now, due_at=nxt)

    async def start_pending(self) -> list[str]:
        """Start the run of every recorded event whose run was not started (after a
        restart: what the crash left between an event and its run)."""
        with self._log() as log_:
            pending = log_.pending()
        started = []
        for event in pending:
            run_id = await self._start(event)
            if run_id is not None:
                started.append(run_id)
        return started

    @staticmethod
    def _payload(workflow: Any, kind: str, event: Any) -> Any:
        """The trigger payload of an event's run: the event; a schedule's tick on top of
        the workflow's sample (a scheduled report runs with its usual inputs)."""
        sample = workflow.trigger_sample
        if kind == "schedule" and (sample is None or isinstance(sample, dict)):
            event = {**(sample or {}), **event}
        try:
            return resolve_trigger(workflow, event)
        except E.InvalidInput as exc:
            raise TriggerProblem(
                422, f"the trigger payload does not fit: {exc}", "trigger"
            ) from None

    async def _start(self, event: TriggerEvent) -> str | None:
        """Start the event's run; None when it was started already or cannot be."""
        with self._log() as log_:
            row = log_.get(event.workflow_id)
        if row is None:
            return None
        try:
            _, workflow = self._workflow(row.workflow_id, row.version)
            trigger = self._payload(workflow, row.kind, event.payload)
            credentials = self._credentials(row.connections)
        except TriggerProblem as problem:  # kept, with why, instead of retried forever
            with self._log() as log_:
                log_.reject(event.workflow_id, event.key, problem.detail)
            return None

        def claim(runlog: RunLog, run_id: str) -> None:
            TriggerLog(runlog.store).claim(event.workflow_id, event.key, run_id)

        async def job(engine: Engine) -> RunResult:
            return await engine.run(workflow, trigger)

        try:
            run_id = await self.launcher.start(job, credentials, claim=claim)
        except E.EventTaken:
            return None
        # As a run started through the API: its retry may name the current version.
        self.store.save_origin(run_id, row.workflow_id, row.version, row.connections)
        return run_id

    # --- the background loop ------------------------------------------------------------------

    def start(self) -> None:
        """Tick about once a second until `close` (under a real server)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # one bad tick must not stop every trigger
                log.error("trigger tick failed: %s: %s", type(exc).__name__, redact(str(exc)))
            await asyncio.sleep(TICK)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
