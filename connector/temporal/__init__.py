"""Runs on Temporal workers: the same engine, spread over processes and machines.

`connector worker --temporal HOST:PORT` serves the activities and workflow of
`workflow_def.py`; `connector run WORKFLOW --temporal HOST:PORT` sends a run and follows it
(`client.py`). The run log (PostgreSQL, shared) holds every output; Temporal holds only
where each run stands. Nothing here is imported unless `--temporal` is used.
"""
