"""Runs on Temporal workers: the same engine, spread over processes and machines.

`connector worker --temporal HOST:PORT` serves the activities and workflow of
`workflow_def.py`; `connector run WORKFLOW --temporal HOST:PORT` records a run in the run
log and sends it (`run_start.py`, `client.py`), then follows it. The run log (PostgreSQL,
shared) holds every run's trigger and every output; Temporal holds only where each run
stands (`history.py` measures how much). Nothing here is imported unless `--temporal` is used.
"""
