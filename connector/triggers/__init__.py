"""Polling triggers: manifests of `kind: trigger` whose handler polls for new events.

A poll takes the state the previous poll returned (None for the first) and returns the new
events and the next state (`poll_trigger`). The state is the trigger's own JSON; the caller
keeps it between polls (`connector triggers poll --state FILE` writes it atomically,
`state_file`). A first poll records where things stand and returns no event, unless
`replay=True` asks for what already exists.
"""

from connector.triggers.poll import PollResult, poll_trigger
from connector.triggers.state_file import read_state, write_state

__all__ = ["PollResult", "poll_trigger", "read_state", "write_state"]
