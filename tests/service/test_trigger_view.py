"""A run's trigger payload in its view: whole up to 64 KiB of JSON; past that null, its
shape in `trigger_summary` (read once, later views never read the payload), and the whole
payload, masked, at `trigger_url`, in the API and the console alike."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from connector.clock import FakeClock
from connector.engine.runlog import RunLog
from connector.redact import MASK, register_secret
from connector.service import ServiceConfig
from connector.service.trigger_views import INLINE, TriggerShapes, trigger_summary

from .helpers import AUTH, KEY, client_for

TOKEN = "tok-trigger-view-0123456789abcdef"


def _config(tmp_path: Path, runlog: Path | str) -> ServiceConfig:
    return ServiceConfig(
        home=tmp_path / "home", api_keys=(KEY,), clock=FakeClock(), credentials={}, runlog=runlog
    )


def _run_with(runlog: Path | str, trigger: Any) -> str:
    with RunLog(runlog) as log:
        run_id = log.create_run(workflow={"name": "w", "steps": []}, trigger=trigger,
                                source_path=None, parent_run_id=None, started_at=1.0)  # fmt: skip
        log.finish_run(run_id, status="succeeded", finished_at=2.0, output=None)
    return run_id


def _urls(count: int) -> list[str]:
    return [f"https://example.com/page/{i}" for i in range(count)]


def test_a_small_trigger_is_whole_and_a_big_one_is_its_shape_and_its_url(
    tmp_path: Path, runlog_target: Path | str
) -> None:
    small = {"urls": _urls(10), "note": "é"}
    big = {"urls": _urls(5000), "campaign": "spring", "tags": ["a", "b"], "n": 3,
           "note": f"pasted {TOKEN}"}  # fmt: skip
    register_secret(TOKEN)  # as a credential the run used is, before the run is written
    assert len(json.dumps(big)) > INLINE > len(json.dumps(small))
    small_id = _run_with(runlog_target, small)
    big_id = _run_with(runlog_target, big)
    config = _config(tmp_path, runlog_target)

    async def go() -> None:
        async with client_for(config) as client:
            shapes: TriggerShapes = client.app.state.service.triggers  # type: ignore[attr-defined]
            view = (await client.get(f"/v1/runs/{small_id}", headers=AUTH)).json()
            assert view["trigger"] == small and view["trigger_summary"] is None
            assert view["trigger_url"] == f"/v1/runs/{small_id}/trigger"
            for _ in range(2):  # the payload read once, at the first view
                view = (await client.get(f"/v1/runs/{big_id}", headers=AUTH)).json()
                assert shapes.payloads_read == 2
            assert view["trigger"] is None
            summary = view["trigger_summary"]
            whole = await client.get(view["trigger_url"], headers=AUTH)
            assert whole.status_code == 200
            assert whole.headers["content-type"] == "application/json"
            assert TOKEN not in whole.text
            assert summary == {
                "size": len(whole.content),
                "type": "object",
                "length": 5,
                "keys": ["urls", "campaign", "tags", "n", "note"],
                "array_lengths": {"urls": 5000, "tags": 2},
            }
            assert json.loads(whole.text) == {**big, "note": f"pasted {MASK}"}
            small_whole = await client.get(f"/v1/runs/{small_id}/trigger", headers=AUTH)
            assert small_whole.json() == small
            missing = await client.get("/v1/runs/nope/trigger", headers=AUTH)
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            assert (await client.get(view["trigger_url"])).status_code == 401

    asyncio.run(go())


def test_the_console_shows_a_big_triggers_shape_and_a_download(tmp_path: Path) -> None:
    runlog = tmp_path / "runs.db"
    big_id = _run_with(runlog, {"links": _urls(4000), "owner": "<b>me</b>"})
    small_id = _run_with(runlog, {"days": 7, "note": "<b>bold</b>"})
    config = _config(tmp_path, runlog)

    async def go() -> None:
        async with client_for(config) as client:
            assert (await client.get(f"/runs/{big_id}/trigger")).status_code == 303
            await client.post("/signin", data={"api_key": KEY})
            page = (await client.get(f"/runs/{big_id}")).text
            assert 'id="trigger-summary"' in page and "an object of 2 keys" in page
            assert "<code>links</code>: 4,000 elements" in page and "<code>owner</code>" in page
            assert "example.com/page/3999" not in page
            assert f'href="/runs/{big_id}/trigger"' in page
            download = await client.get(f"/runs/{big_id}/trigger")
            assert (
                download.status_code == 200
                and "attachment" in download.headers["content-disposition"]
            )
            assert download.json()["links"][3999] == "https://example.com/page/3999"
            page = (await client.get(f"/runs/{small_id}")).text
            assert 'id="trigger"' in page and '"days": 7' in page and "<b>" not in page
            missing = await client.get("/runs/nope/trigger")
            assert missing.status_code == 404

    asyncio.run(go())


def _reference(value: Any) -> dict[str, Any]:
    """The shape as a whole decoded value gives it."""
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
             float: "number", type(None): "null"}  # fmt: skip
    keys = list(value)[:100] if isinstance(value, dict) else None
    return {
        "type": kinds[type(value)],
        "length": len(value) if isinstance(value, dict | list | str) else None,
        "keys": keys,
        "array_lengths": {k: len(value[k]) for k in keys or () if isinstance(value[k], list)},
    }


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2, 3], [], {}, [[], [[1, 2], {"a": [1]}], "]", "[,"], "x" * 10, 'a "q" ] [ \\ ,',
        12.5, -3, True, False, None, {"a": []}, {"e": {}, "s": "}", "n": None, "l": [{}, []]},
        {f"k{i}": [i] * i for i in range(150)}, {"é": ["ü", "\u2028", "\ud83d\ude00"]},
        [{"a": [1, [2, [3]]]}, "b", 1e300, None],
    ],
)  # fmt: skip
@pytest.mark.parametrize("indent", [None, 2])
def test_a_summary_is_what_the_decoded_payload_says(payload: Any, indent: int | None) -> None:
    """Read an element at a time, the shape is the one the whole decoded value has, from
    compact or indented JSON."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(payload, separators=separators, indent=indent, ensure_ascii=False)
    summary = trigger_summary(text).model_dump()
    assert summary == {"size": len(text.encode("utf-8", "surrogatepass")), **_reference(payload)}


def test_no_view_but_the_first_reads_a_big_payload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's view after the first, the list of runs, the event stream and a cancel
    (409: not running) read the run's row without its payload; only the first view and the
    payload's own URL read it."""
    runlog = tmp_path / "runs.db"
    big_id = _run_with(runlog, {"urls": _urls(4000)})
    reads: list[tuple[str, bool]] = []
    real_get, real_list = RunLog.get_run, RunLog.list_runs

    def get_run(self: RunLog, run_id: str, **kwargs: Any) -> Any:
        reads.append((run_id, kwargs.get("trigger_json", False) or kwargs.get("trigger", True)))
        return real_get(self, run_id, **kwargs)

    def list_runs(self: RunLog, **kwargs: Any) -> Any:
        reads.append(("list", kwargs.get("trigger", True)))
        return real_list(self, **kwargs)

    monkeypatch.setattr(RunLog, "get_run", get_run)
    monkeypatch.setattr(RunLog, "list_runs", list_runs)
    config = _config(tmp_path, runlog)

    async def go() -> None:
        async with client_for(config) as client:
            for _ in range(3):
                assert (await client.get(f"/v1/runs/{big_id}", headers=AUTH)).status_code == 200
            assert (await client.get("/v1/runs", headers=AUTH)).status_code == 200
            events = await client.get(f"/v1/runs/{big_id}/events", headers=AUTH)
            assert "event: end" in events.text
            cancel = await client.post(f"/v1/runs/{big_id}/cancel", headers=AUTH)
            assert cancel.status_code == 409
            await client.post("/signin", data={"api_key": KEY})
            assert (await client.get("/")).status_code == 200
            assert (await client.get(f"/runs/{big_id}")).status_code == 200
            assert (await client.get(f"/v1/runs/{big_id}/trigger", headers=AUTH)).status_code == 200

    asyncio.run(go())
    assert reads[0] == (big_id, True) and reads[-1] == (big_id, True)
    assert len(reads) > 6 and not any(payload for _, payload in reads[1:-1]), reads
