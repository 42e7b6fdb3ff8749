"""Polling triggers: manifests of `kind: trigger` whose handler polls for new events.

A poll takes the state the previous poll returned (None for the first) and returns the new
events and the next state (`poll_trigger`). The state is the trigger's own JSON; the caller
keeps it between polls (`connector triggers poll --state FILE` writes it atomically,
`state_file`). A first poll records where things stand and returns no event, unless
`replay=True` asks for what already exists.

Webhook triggers (`trigger.type: webhook`) are not polled: `webhook.subscribe` registers a
URL with the API, `webhook.parse_delivery` turns each delivery into an event, and
`webhook.unsubscribe` removes the registration.
"""

from connector.triggers.poll import PollResult, poll_trigger
from connector.triggers.state_file import read_state, write_state
from connector.triggers.webhook import event_key, parse_delivery, subscribe, unsubscribe

__all__ = [
    "PollResult",
    "event_key",
    "parse_delivery",
    "poll_trigger",
    "read_state",
    "subscribe",
    "unsubscribe",
    "write_state",
]
