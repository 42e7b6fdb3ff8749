"""Requests per second and start-up time of the two sandbox servers.

Each sandbox runs as `connector sandbox serve ...` in its own process (uvicorn, loopback);
this process is the client: N keep-alive connections each sending requests back to back
(a minimal asyncio HTTP/1.1 client, see `_keep_alive_worker`), so client and server do not
share an event loop. Run:

    .venv/bin/python bench/sandbox_throughput.py [--seconds 5] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from connector.sandbox.config import DEMO_BITLY_TOKEN, DEMO_SHORTEN_KEY


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(app: str) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start the CLI server; return it, its root URL and seconds until it answered."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "sandbox", "serve", app, "--seed", "demo",
         "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    while True:
        try:
            httpx.get(root + "/", timeout=0.5)
            return proc, root, time.perf_counter() - t0
        except httpx.TransportError:
            if proc.poll() is not None:
                raise SystemExit(f"{app} sandbox exited with {proc.returncode}") from None
            time.sleep(0.005)


def in_process_start(app: str) -> float:
    """Seconds to build the app with demo data and have uvicorn listening (imports warm)."""
    from connector.sandbox import bitly, shorten_dev
    from connector.sandbox.config import SandboxConfig
    from connector.sandbox.server import BackgroundServer

    factory = bitly.create_app if app == "bitly" else shorten_dev.create_app
    t0 = time.perf_counter()
    with BackgroundServer(factory(SandboxConfig(seed=1))):
        return time.perf_counter() - t0


async def _keep_alive_worker(
    host: str, port: int, request: bytes, deadline: float, tally: list[int]
) -> None:
    """One connection sending GETs back to back; counts answers and non-200s.

    A deliberately lean HTTP/1.1 client: httpx spends ~1 ms of CPU per request, which on
    two cores would measure the client, not the server.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            tally[0] += 1
            tally[1] += status != 200
    finally:
        writer.close()


async def hammer(name: str, url: str, token: str, seconds: float, workers: int) -> Result:
    # Check the answer once with a real client, then measure with the lean one.
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    parts = httpx.URL(url)
    target = parts.raw_path.decode()
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.host}:{parts.port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    tally = [0, 0]
    t0 = time.perf_counter()
    deadline = t0 + seconds
    await asyncio.gather(
        *(
            _keep_alive_worker(parts.host, parts.port or 80, request, deadline, tally)
            for _ in range(workers)
        )
    )
    return Result(name, tally[0], tally[1], time.perf_counter() - t0)


async def hammer_httpx(name: str, url: str, token: str, seconds: float, workers: int) -> Result:
    """The same load through httpx.AsyncClient: what a connector process itself can drive."""
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as client:
        (await client.get(url)).raise_for_status()
        tally = [0, 0]
        t0 = time.perf_counter()
        deadline = t0 + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                response = await client.get(url)
                tally[0] += 1
                tally[1] += response.status_code != 200

        await asyncio.gather(*(worker() for _ in range(workers)))
        return Result(name, tally[0], tally[1], time.perf_counter() - t0)


def run(coro: Coroutine[Any, Any, Result]) -> Result:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: lean keep-alive client (measures the server); httpx: httpx.AsyncClient",
    )
    args = parser.parse_args()

    results: list[Result] = []
    starts: list[tuple[str, float, float]] = []
    for app in ("bitly", "shorten_dev"):
        proc, root, cold = start(app)
        try:
            if app == "bitly":
                token = DEMO_BITLY_TOKEN
                auth = {"Authorization": f"Bearer {token}"}
                links = httpx.get(f"{root}/v4/groups/Bdemo000001/bitlinks?size=1", headers=auth)
                bitlink = links.json()["links"][0]["id"]
                targets = [
                    ("Bitly GET /v4/user", f"{root}/v4/user"),
                    ("Bitly GET /v4/bitlinks/{bitlink}", f"{root}/v4/bitlinks/{bitlink}"),
                ]
            else:
                token = DEMO_SHORTEN_KEY
                auth = {"Authorization": f"Bearer {token}"}
                listed = httpx.get(f"{root}/api/v1/links?limit=5&sort=slug", headers=auth)
                slug = next(x["slug"] for x in listed.json()["data"] if x["status"] == "active")
                targets = [
                    ("shorten.dev GET /api/v1/links/{slug}", f"{root}/api/v1/links/{slug}"),
                    ("shorten.dev GET /api/v1/links", f"{root}/api/v1/links"),
                ]
            for name, url in targets:
                load = hammer if args.client == "raw" else hammer_httpx
                result = run(load(name, url, token, args.seconds, args.concurrency))
                results.append(result)
                print(f"{name:<40} {result.rate:8.0f} req/s  ({result.errors} non-200)", flush=True)
        finally:
            proc.terminate()
            proc.wait(10)
        starts.append((app, cold, in_process_start(app)))

    print()
    machine = f"{os.cpu_count()} cores, {platform.platform()}"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"client: {args.client}, {args.concurrency} keep-alive connections, {args.seconds:g} s")
    print()
    print("| endpoint | requests/s | non-200 |")
    print("|---|---:|---:|")
    for r in results:
        print(f"| {r.name} | {r.rate:,.0f} | {r.errors} |")
    print()
    print("| sandbox | CLI process to first answer (s) | app + server start, in process (s) |")
    print("|---|---:|---:|")
    for app, cold, warm in starts:
        print(f"| {app} | {cold:.2f} | {warm:.3f} |")


if __name__ == "__main__":
    main()
