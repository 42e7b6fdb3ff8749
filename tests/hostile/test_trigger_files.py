"""A trigger file (`connector run --trigger @FILE`) may hold a million-item loop's rows: its
own bounds (256 MiB, 20,000,000 values) instead of every other document's 4 MiB and
1,000,000, and every other check the same, with the same one-line errors.

As found: a builder's export of a million bitlinks (17 MiB) was refused as "larger than
4 MiB", so million-item runs could only be started from Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from connector.catalog import load_catalog
from connector.cli.run_cmd import _trigger
from connector.engine.workflow import load_workflow
from connector.errors import InvalidConfiguration, InvalidInput
from connector.safe_load import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_VALUES,
    TRIGGER_FILE_MAX_BYTES,
    TRIGGER_FILE_MAX_VALUES,
    load_json,
    load_json_file,
)

from .conftest import ROOT, PeakGrowth, cli_env, run_cli

MiB = 1024 * 1024
#: 4.4 MB of valid JSON before the hostile part: past every document's bound, and far
#: enough into the file that the line numbers are not 1
PAD = '{"pad": [\n' + "0,\n" * 1_450_000 + '0],\n"rows": '
PAD_LINES = PAD.count("\n")


def _cpu() -> float:
    return time.process_time()


def test_a_file_past_the_document_bounds_loads(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    rows = [f"https://bit.ly/{i:07x}" for i in range(1_100_000)]
    path.write_text(json.dumps({"bitlinks": rows}))
    assert path.stat().st_size > MAX_BYTES and len(rows) > MAX_VALUES
    assert load_json_file(path, what="trigger file") == {"bitlinks": rows}
    assert _trigger(f"@{path}") == {"bitlinks": rows}


# (the JSON after PAD, what the error says after "FILE:", the line it names or None)
HOSTILE = [
    ("deep", "[" * 5000 + "]" * 5000 + "}", f"nested deeper than {MAX_DEPTH} levels", None),
    ("deep-101", "[" * 101 + "]" * 101 + "}", f"nested deeper than {MAX_DEPTH} levels", None),
    ("duplicate-key", '{"a": 1,\n"b": 2,\n"a": 3}}',
     f"key 'a' appears twice in one object, on lines {PAD_LINES + 1} and {PAD_LINES + 3}",
     PAD_LINES + 3),
    ("nan", "[NaN]}", "NaN is not a finite number", None),
    ("infinity", "[-Infinity]}", "-Infinity is not a finite number", None),
    ("1e400", "[1e400]}", "1e400 is not a finite number", None),
    ("huge-int", "[" + "9" * 5000 + "]}", "Exceeds the limit (4300 digits)", None),
    ("lone-surrogate", '[{"t": "a\\ud800b"}]}',
     "a string at rows[0].t holds \\ud800, half of a UTF-16 surrogate pair", None),
    ("syntax", "[1, 2,\n]}", "not valid JSON (Expecting value)", PAD_LINES + 2),
]  # fmt: skip


@pytest.mark.parametrize(("tail", "says", "line"), [c[1:] for c in HOSTILE],
                         ids=[c[0] for c in HOSTILE])  # fmt: skip
def test_what_any_document_refuses_a_trigger_file_refuses(
    tmp_path: Path, tail: str, says: str, line: int | None
) -> None:
    path = tmp_path / "rows.json"
    path.write_text(PAD + tail)
    assert path.stat().st_size > MAX_BYTES
    started = _cpu()
    with pytest.raises(InvalidInput) as info:
        load_json_file(path, what="trigger file")
    message = str(info.value)
    assert message.startswith(f"{path}:" if line is None else f"{path}:{line}:"), message
    assert says in message and "\n" not in message, message
    assert _cpu() - started < 10
    # the same text inline says the same (its path starts at the text's own top)
    with pytest.raises(InvalidInput) as inline:
        load_json(tail.removesuffix("}"), "--trigger")
    if line is None:
        same = message.split(": ", 1)[1].replace(" at rows[", " at [")
        assert str(inline.value) == f"--trigger: {same}"


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(PAD.encode() + b'["caf\xe9"]}')
    with pytest.raises(InvalidInput) as info:
        load_json_file(path, what="trigger file")
    assert str(info.value) == f"{path}:{PAD_LINES + 1}: the trigger file is not UTF-8 text"


def test_a_surrogate_pair_is_one_character_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "emoji.json"
    path.write_text('{"t": ["\\ud83d\\ude00", "\\\\ud800 is text here"]}')
    assert load_json_file(path) == {"t": ["\U0001f600", "\\ud800 is text here"]}


def test_a_file_over_the_bound_is_refused_by_its_size_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:  # sparse: no disk used
        handle.truncate(TRIGGER_FILE_MAX_BYTES + 1)
    grown = PeakGrowth()
    started = _cpu()
    with pytest.raises(InvalidInput) as info:
        load_json_file(path, what="trigger file")
    assert str(info.value) == f"{path}: the trigger file is larger than 256 MiB"
    assert _cpu() - started < 1
    assert grown.mib() < 20, f"peak RSS grew by {grown.mib():.0f} MiB"


def test_a_pipe_is_read_up_to_the_bound_only() -> None:
    read_end, write_end = os.pipe()
    written = [0]

    def feed() -> None:  # far past the bound; stops when the reader closes its end
        try:
            while written[0] < 64 * MiB:
                written[0] += os.write(write_end, b" " * MiB)
        except BrokenPipeError:
            pass
        finally:
            os.close(write_end)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        with pytest.raises(InvalidInput, match="the trigger file is larger than 2 MiB"):
            load_json_file(f"/dev/fd/{read_end}", what="trigger file", max_bytes=2 * MiB)
    finally:
        os.close(read_end)
        writer.join(60)
    assert written[0] < 8 * MiB


def test_dev_zero_stops_at_the_first_chunk() -> None:
    started = _cpu()
    with pytest.raises(InvalidInput) as info:
        load_json_file("/dev/zero", what="trigger file")
    assert str(info.value) == "/dev/zero:1: not valid JSON (a NUL byte)"
    assert _cpu() - started < 1


def test_too_many_values_are_counted_before_any_is_built(tmp_path: Path) -> None:
    """21 million empty objects (63 MB) would take about 1.3 GB decoded: refused first."""
    path = tmp_path / "bomb.json"
    path.write_text("[" + "{}," * (TRIGGER_FILE_MAX_VALUES + 1_000_000) + "{}]")
    done = _in_child(f"load_json_file({str(path)!r}, what='trigger file')")
    assert done["error"] == f"{path}: holds more than 20,000,000 values"
    assert done["cpu"] < 10
    assert done["peak_mib"] < 3 * path.stat().st_size / MiB + 40  # the bytes, twice


def test_commas_inside_strings_are_not_values(tmp_path: Path) -> None:
    path = tmp_path / "commas.json"
    text = "," * (TRIGGER_FILE_MAX_VALUES + 10)
    path.write_text(json.dumps({"csv": text, "list": [1, 2, {"a": []}]}, indent=1))
    assert load_json_file(path) == {"csv": text, "list": [1, 2, {"a": []}]}


def test_exactly_the_bound_of_values_loads_and_one_more_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    path.write_text("[" + ",".join(["0"] * 9) + ", [], {}]")  # 12 values
    assert len(load_json_file(path, max_values=12)) == 11
    with pytest.raises(InvalidInput, match="holds more than 11 values"):
        load_json_file(path, max_values=11)


def test_parsing_time_grows_linearly(tmp_path: Path) -> None:
    """CPU time (not wall time, which measures the neighbours) of 50,000 and 200,000
    rows, valid and with a duplicate key at the very end (the error path scans the text):
    linear is 4x, quadratic would be 16x."""

    def cpu_of(rows: int, duplicate: bool) -> float:
        path = tmp_path / f"{rows}-{duplicate}.json"
        body = ",\n".join(f'{{"u": "https://bit.ly/{i:07x}", "n": {i}}}' for i in range(rows))
        path.write_text("[" + body + (',{"a": 1, "a": 2}]' if duplicate else "]"))
        best = float("inf")
        for _ in range(2):
            started = _cpu()
            try:
                load_json_file(path)
            except InvalidInput as exc:
                assert duplicate and "appears twice" in str(exc)
            best = min(best, _cpu() - started)
        return best

    for duplicate in (False, True):
        small, big = cpu_of(50_000, duplicate), cpu_of(200_000, duplicate)
        assert big / small < 8, (duplicate, small, big)


def _in_child(call: str) -> dict[str, object]:
    """Run `call` in a fresh interpreter: its CPU time, its peak RSS (VmHWM), its error."""
    script = f"""
import json, time
from connector.errors import InvalidInput
from connector.safe_load import load_json_file
started, error = time.process_time(), None
try:
    {call}
except InvalidInput as exc:
    error = str(exc)
cpu = time.process_time() - started
with open("/proc/self/status") as status:
    kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({{"error": error, "cpu": cpu, "peak_mib": kib / 1024}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_million_bitlinks_parse_well_within_the_engines_memory(tmp_path: Path) -> None:
    """The whole 200 MB of a million-item run (bench/engine_memory.py --cli) holds the
    interpreter, the catalog and the engine too: parsing the file takes a bounded share."""
    path = tmp_path / "million.json"
    path.write_text(json.dumps({"bitlinks": [f"bit.ly/{i:07x}" for i in range(1_000_000)]}))
    done = _in_child(f"value = load_json_file({str(path)!r}, what='trigger file')")
    assert done["error"] is None
    assert done["peak_mib"] < 130, done  # 17 MiB of text; 101 MiB measured
    assert done["cpu"] < 20, done


def test_inline_triggers_workflows_and_manifests_keep_their_bounds(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="--trigger: larger than 4 MiB"):
        _trigger(json.dumps(["x" * 100] * 45_000))
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"name": "b", "steps": [], "pad": "x" * (MAX_BYTES + 1)}))
    with pytest.raises(InvalidConfiguration, match="the workflow file is larger than 4 MiB"):
        load_workflow(big, load_catalog())
    with pytest.raises(InvalidInput, match="holds more than 1,000,000 values"):
        load_json(json.dumps([0] * (MAX_VALUES + 1)), "--inputs-json")


def test_the_help_states_the_bounds() -> None:
    from connector.cli import build_parser

    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    trigger = next(a for a in run._actions if a.dest == "trigger")
    assert f"{TRIGGER_FILE_MAX_BYTES // MiB} MiB" in str(trigger.help)
    assert f"{TRIGGER_FILE_MAX_VALUES:,} values" in str(trigger.help)


@pytest.mark.slow
def test_the_cli_refuses_a_hostile_trigger_file_in_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(
        "name: ok\nsteps:\n  - {id: u, action: bitly.get_user, inputs: {}}\n"
    )
    (tmp_path / "dup.json").write_text(PAD + '{"a": 1,\n"a": 2}}')
    done = run_cli(["run", "ok.yaml", "--trigger", "@dup.json"], env=cli_env(tmp_path / "h"),
                   cwd=tmp_path, timeout=60)  # fmt: skip
    assert done.code == 2, done.stderr
    assert done.stderr == (
        f"error: dup.json:{PAD_LINES + 2}: key 'a' appears twice in one object, on lines "
        f"{PAD_LINES + 1} and {PAD_LINES + 2}; the second would silently replace the first\n"
    )
    assert not (tmp_path / "h" / "runs.db").exists()  # refused before the run log opened
    assert done.cpu_seconds < 10
