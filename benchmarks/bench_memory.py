"""Benchmark (not a test): the server's memory during a huge build log with slow viewers.

A real Jupyter server with jupyter_r2d runs in a child process with the docker-api engine
(Docker's classic builder: no BuildKit log cap, every line reaches the server). It builds
a Dockerfile whose RUN prints ``--lines`` lines (``seq``) while ``--readers`` SSE clients
follow the job, each with a small receive buffer, reading ``--read-bytes`` at a time with
``--pause`` seconds between reads (slower than the build prints). When the build ends they
read the rest at full speed, and each checks that it got every event. The server
process's RSS (VmRSS, and VmHWM: its peak) is sampled from /proc throughout.

    .venv/bin/python benchmarks/bench_memory.py [--lines 2000000] [--readers 20]

``--rss-limit`` (MiB) cancels the build if the server grows beyond it, to keep an old
version's run from exhausting the machine; the figure then reads "> limit".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import ServerProcess, jupyter_server

REPO = Path(__file__).resolve().parent.parent
BASE = os.environ.get("R2D_TEST_BASE_IMAGE", "r2d-test/base:latest")


def status_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


class Reader(threading.Thread):
    """One slow SSE client: a raw HTTP/1.0 request (the body ends when the server closes
    it), a small receive buffer, small reads with pauses until ``fast`` is set."""

    def __init__(self, server: ServerProcess, job_id: str, read_bytes: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.job_id = server.port, server.token, job_id
        self.read_bytes, self.pause = read_bytes, pause
        self.fast = threading.Event()
        self.events = 0
        self.last_id = 0
        self.error: str | None = None

    def run(self) -> None:
        try:
            self._read()
        except Exception as err:
            self.error = f"{type(err).__name__}: {err}"

    def _read(self) -> None:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(
                f"GET /r2d/api/builds/{self.job_id}/events HTTP/1.0\r\n"
                f"Host: 127.0.0.1\r\nAuthorization: token {self.token}\r\n\r\n".encode()
            )
            buffer = b""
            head = True
            while True:
                data = sock.recv(self.read_bytes if not self.fast.is_set() else 1 << 20)
                if not data:
                    break
                buffer += data
                if head:
                    if b"\r\n\r\n" not in buffer:
                        continue
                    status, _, buffer = buffer.partition(b"\r\n\r\n")
                    if not status.startswith(b"HTTP/1.1 200"):
                        raise RuntimeError(status.decode(errors="replace"))
                    head = False
                end = buffer.rfind(b"\n\n")
                if end >= 0:
                    complete, buffer = buffer[: end + 2], buffer[end + 2 :]
                    self.events += complete.count(b"id: ")
                    start = complete.rfind(b"id: ", 0, len(complete) - 2)
                    self.last_id = int(complete[start + 4 : complete.index(b"\n", start)])
                if not self.fast.is_set():
                    time.sleep(self.pause)


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="r2d-bench-memory-"))
    root, data = work / "root", work / "data"
    (root / "flood").mkdir(parents=True)
    # A fresh nonce each run: the classic builder must not answer from its cache.
    (root / "flood" / "Dockerfile").write_text(
        f"FROM {BASE}\nRUN echo run-{uuid.uuid4().hex} >/dev/null && seq 1 {args.lines}\n"
    )
    image = f"r2d-bench/memory:{uuid.uuid4().hex[:8]}"
    settings = ("--JupyterR2D.engine_kind=docker-api", "--ServerApp.log_level=WARN")
    try:
        with jupyter_server(work, root, data, *settings) as server:
            return measure(args, server, image)
    finally:
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, server: ServerProcess, image: str) -> dict[str, Any]:
    """Start the flood job, follow it with slow readers, sample the server's memory."""
    url, headers, pid = server.url("r2d/api"), server.headers, server.proc.pid
    samples: list[tuple[float, int]] = []
    idle = status_kib(pid)
    body = {"source": {"path": "flood"}, "image": image}
    r = requests.post(f"{url}/builds", json=body, headers=headers, timeout=60)
    r.raise_for_status()
    job_id = r.json()["id"]
    readers = [Reader(server, job_id, args.read_bytes, args.pause) for _ in range(args.readers)]
    for reader in readers:
        reader.start()
    t0 = time.monotonic()
    record: dict[str, Any] = {}
    exceeded = False
    while True:
        rss = status_kib(pid)
        samples.append((time.monotonic() - t0, rss["VmRSS"]))
        if not exceeded and rss["VmRSS"] > args.rss_limit * 1024:
            exceeded = True
            requests.post(f"{url}/builds/{job_id}/cancel", headers=headers, timeout=60)
        record = requests.get(f"{url}/builds/{job_id}", headers=headers, timeout=60).json()
        if record["status"] not in ("queued", "running"):
            break
        time.sleep(0.25)
    build_s = time.monotonic() - t0
    during = status_kib(pid)
    for reader in readers:
        reader.fast.set()
    while any(reader.is_alive() for reader in readers):
        samples.append((time.monotonic() - t0, status_kib(pid)["VmRSS"]))
        time.sleep(0.25)
    after = status_kib(pid)
    expected = record_events(url, headers, job_id)
    return {
        "lines": args.lines,
        "readers": args.readers,
        "status": record["status"],
        "rss_limit_exceeded": exceeded,
        "build_s": round(build_s, 1),
        "total_s": round(time.monotonic() - t0, 1),
        "events_in_log": expected,
        "readers_complete": sum(
            r.events == expected and r.last_id == expected and r.error is None for r in readers
        ),
        "reader_errors": sorted({r.error for r in readers if r.error}),
        "rss_idle_mib": round(idle["VmRSS"] / 1024, 1),
        "rss_max_sampled_mib": round(max(kib for _, kib in samples) / 1024, 1),
        "vmhwm_at_build_end_mib": round(during["VmHWM"] / 1024, 1),
        "vmhwm_at_end_mib": round(after["VmHWM"] / 1024, 1),
        "rss_at_end_mib": round(after["VmRSS"] / 1024, 1),
    }


def record_events(url: str, headers: dict[str, str], job_id: str) -> int:
    """How many events the finished job's log holds (its last seq), read back at speed."""
    last = 0
    with requests.get(
        f"{url}/builds/{job_id}/events", headers=headers, stream=True, timeout=600
    ) as r:
        rest = b""
        for chunk in r.iter_content(chunk_size=1 << 20):
            rest += chunk
            end = rest.rfind(b"\n\n")
            if end >= 0:
                start = rest.rfind(b"id: ", 0, end)
                last = int(rest[start + 4 : rest.index(b"\n", start)])
                rest = rest[end + 2 :]
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--read-bytes", type=int, default=4096)
    parser.add_argument("--pause", type=float, default=0.005)
    parser.add_argument("--rss-limit", type=int, default=4096, help="MiB")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
