"""Running a sandbox app over real HTTP: in the foreground (the CLI) or in a background thread.

uvicorn with uvloop and httptools when they are installed (they come with uvicorn[standard]);
warnings only, no access log, so the server costs little per request and prints nothing
unless something is wrong.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

__all__ = ["BackgroundServer", "bind", "serve", "uvicorn_config"]

_START_TIMEOUT = 10.0


def _fastest(preferred: str, fallback: str) -> str:
    return preferred if importlib.util.find_spec(preferred) is not None else fallback


def uvicorn_config(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        loop=_fastest("uvloop", "asyncio"),
        http=_fastest("httptools", "h11"),
        lifespan="auto",
        # Sandbox answers are small; keep-alive connections are reused by clients.
        timeout_keep_alive=30,
        # The CLI shows escape sequences instead of obeying them (connector.terminal):
        # coloured log lines would come out as \u001b[32m.
        use_colors=False,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on (host, port); OSError (e.g. address in use) as is."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 8411,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `app` until interrupted (Ctrl-C). The port is bound first, so a busy port
    raises OSError before anything is printed; `on_ready(url)` runs once it is bound."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    if on_ready is not None:
        shown = f"[{host}]" if ":" in host else host
        on_ready(f"http://{shown}:{bound_port}")
    uvicorn.Server(uvicorn_config(app, host, bound_port)).run(sockets=[sock])


class BackgroundServer:
    """Serve `app` on 127.0.0.1 and a free port from a daemon thread, for tests and demos.

    with BackgroundServer(app) as server:
        httpx.get(server.url + "/v4/user")
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self._socket = bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._server = uvicorn.Server(uvicorn_config(app, host, self.port))
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start()
            self._error = exc

    def start(self) -> BackgroundServer:
        self._thread = threading.Thread(target=self._run, name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"sandbox server on {self.url} failed to start: {self._error}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server on {self.url} did not start in time")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        *rest: Any,
    ) -> None:
        self.stop()
