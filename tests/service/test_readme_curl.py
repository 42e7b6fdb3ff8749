"""The README's service section, run as written: `connector serve --sandbox` started as a
process, and every curl command of the section run by bash against it (curl is required:
the test fails, saying so, without it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .test_serve_cmd import _free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.slow


def _commands() -> list[str]:
    section = README.split("## Service", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's service section has a curl block"
    commands: list[str] = []
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            commands.append(line[2:])
        else:
            commands[-1] += "\n" + line
    return commands


def test_the_readme_curl_commands_work_against_connector_serve(tmp_path: Path) -> None:
    assert shutil.which("curl"), "curl is needed to run the README's commands (apt install curl)"
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("CONNECTOR_API_KEYS", "CONNECTOR_RUNLOG")
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--sandbox", "--port", str(port),
         "--home", str(tmp_path / "home")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        found = re.search(r"API key for this session: (\S+)", "".join(lines))
        assert found, lines
        key = found.group(1)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + "/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        # a run that fails, for the retry line
        failing = {
            "workflow": {
                "name": "fails",
                "steps": [
                    {"id": "get", "action": "bitly.get_bitlink",
                     "inputs": {"bitlink": "bit.ly/doesnotexist"}}
                ],
            }
        }  # fmt: skip
        failed_id = httpx.post(base + "/v1/runs", json=failing, headers=headers).json()["run_id"]
        places = {"sk_...": key, "http://127.0.0.1:8400": base, "FAILED_RUN_ID": failed_id}
        outputs: dict[str, str] = {}
        for command in _commands():
            for placeholder, value in places.items():
                command = command.replace(placeholder, value)
            if command.startswith("H="):
                prefix = command.split("#", 1)[0].strip() + "; "
                continue
            done = subprocess.run(
                ["bash", "-c", prefix + command.replace("curl ", "curl -w '\\n%{http_code}' ", 1)],
                cwd=tmp_path, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0, (command, done.stderr)
            if "curl" not in command:
                continue
            body, _, code = done.stdout.rpartition("\n")
            outputs[command] = body
            assert code in ("200", "201", "202"), (command, code, body)
            if "/v1/workflows" in command:
                places["wf_..."] = json.loads(body)["workflow_id"]
            elif re.search(r"\$S/v1/runs(\s|$)", command):
                places["RUN_ID"] = json.loads(body)["run_id"]
            assert key not in body
        by_end = {c.split("#")[0].split("$S")[-1].strip(): o for c, o in outputs.items()}
        assert json.loads(by_end["/v1/catalog"])["apps"]
        group = json.loads(by_end["/v1/actions/bitly.create_bitlink/options/group_guid"])
        assert group["options"] and {"label", "value"} == set(group["options"][0])
        events = by_end["/v1/runs/RUN_ID/events".replace("RUN_ID", places["RUN_ID"])]
        assert "event: end" in events and '"status":"succeeded"' in events
        run = json.loads(by_end["/v1/runs/" + places["RUN_ID"]])
        assert run["status"] == "succeeded"
        loop = next(s for s in run["steps"] if s["step_id"] == "metrics")
        items = json.loads(by_end[loop["items_url"] + '?limit=500"'])
        assert items["items"] and len(items["items"]) == sum(items["counts"].values())
        child = json.loads(by_end[f"/v1/runs/{failed_id}/retry"])["run_id"]
        again = httpx.post(f"{base}/v1/runs/{failed_id}/retry", headers=headers)
        assert again.status_code == 409 and again.json()["run_id"] == child
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert "Traceback" not in err, err
