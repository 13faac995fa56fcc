"""Servers for tests and benchmarks: a real Jupyter server with jupyter_r2d in a child
process (for tests that kill it), and a listener that never answers (a silent network).

The Jupyter server runs this checkout's package (PYTHONPATH), with its own runtime, config
and data folders under ``base``, on a free port of 127.0.0.1, authenticated by a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ServerProcess:
    """One running server: its process, address and token."""

    proc: subprocess.Popen[bytes]
    port: int
    token: str
    log: Path

    def url(self, path: str) -> str:
        """The full URL of ``path`` (no leading slash) on this server."""
        return f"http://127.0.0.1:{self.port}/{path}"

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of its token."""
        return {"Authorization": f"token {self.token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An authenticated request to ``path``."""
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.url(path), headers=self.headers, **kwargs)

    def children(self) -> list[int]:
        """PIDs of the server's child processes (as they are now)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine's OOM killer strikes."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def jupyter_server(
    base: Path, root_dir: Path, data_dir: Path, *args: str, name: str = "server"
) -> Iterator[ServerProcess]:
    """Start a server, wait until it answers; stop it (SIGTERM, then SIGKILL) afterwards."""
    home = base / name
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    log = home / "server.log"
    argv = [
        sys.executable, "-m", "jupyter_server",
        f"--port={port}", "--ServerApp.port_retries=0", "--ip=127.0.0.1", "--no-browser",
        "--allow-root", f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.jpserver_extensions={'jupyter_r2d': True}",
        f"--JupyterR2D.data_dir={data_dir}",
        *args,
    ]  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, port, token, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if server.request("GET", "r2d/api/builds", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


class SilentProxy:
    """A TCP listener that accepts every connection and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.accepted = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.conns.append(conn)
            self.accepted.set()

    async def wait_accepted(self, timeout: float = 60) -> None:
        """Until a client (a render's worker) has connected and is waiting for an answer."""
        assert await asyncio.to_thread(self.accepted.wait, timeout), "nobody connected"

    async def client_left(self, conn: socket.socket, timeout: float = 5) -> bool:
        """True when the client closed its end (its process died), within ``timeout``."""

        def read_to_eof() -> bool:
            conn.settimeout(timeout)
            try:
                while conn.recv(4096):
                    pass
            except TimeoutError:
                return False
            return True

        return await asyncio.to_thread(read_to_eof)

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.sock.close()
        self._thread.join(10)
        for conn in self.conns:
            conn.close()
