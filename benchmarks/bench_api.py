"""Benchmarks of the server API (not tests): event-loop health under a flood of log lines,
SSE throughput to 1 and 10 clients, and ``GET images`` with 1,000 images.

Runs a real Jupyter server with jupyter_r2d in a child process (so the clients, in this
process and in worker processes, do not share its event loop or its GIL). For the first two
measurements the job manager's engine is swapped for one whose push emits N log lines as
fast as an asynchronous producer can (batches of 64 lines per loop turn, as a subprocess
pipe would deliver them): it measures the server, not Docker.

    .venv/bin/python benchmarks/bench_api.py [--lines 100000] [--images 1000] [--only-images]
        [--images-kind tags|distinct|both]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-token"  # a throwaway server on 127.0.0.1 for the length of the run
HEADERS = {"Authorization": f"token {TOKEN}"}


# --- the server side (child process) -----------------------------------------------------


def serve(port: int, root: str, lines: int) -> None:
    """Run a Jupyter server with jupyter_r2d whose job engine floods ``lines`` log lines."""
    from jupyter_server.serverapp import ServerApp

    from jupyter_r2d.engine import (
        BuildEvent,
        BuildRequest,
        EventSink,
        ImageCatalog,
        Progress,
        Pusher,
    )

    app = ServerApp()
    app.initialize(
        argv=[
            f"--port={port}",
            "--ip=127.0.0.1",
            "--no-browser",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={TOKEN}",
            "--ServerApp.jpserver_extensions={'jupyter_r2d': True}",
            f"--JupyterR2D.data_dir={root}/data",
            "--JupyterR2D.retention_count=1000",
            "--ServerApp.log_level=WARN",
            "--allow-root",
        ],
        find_extensions=False,
    )
    jobs = app.web_app.settings["r2d_jobs"]
    real = jobs.engine

    class FloodImages(ImageCatalog):
        """The real catalog, except that the pushed image needs not exist."""

        async def image_id(self, ref: str) -> str:
            return "sha256:" + "0" * 64

    class FloodPusher(Pusher):
        """A push that emits ``lines`` lines as fast as it can."""

        async def push(self, request: BuildRequest, on_event: EventSink) -> str:
            for start in range(0, lines, 64):
                for i in range(start, min(start + 64, lines)):
                    on_event(
                        BuildEvent(
                            "pushing",
                            f"#{i} layer {i % 7}: pushing data ...",
                            Progress("bytes", i, lines, "a1b2c3"),
                        )
                    )
                await asyncio.sleep(0)  # one pipe read's worth, then let others run
            return "sha256:" + "1" * 64

    # The real engine (the handlers' one stays as it is) with a flooding pusher.
    flood = copy.copy(real)
    flood.images = FloodImages(real.daemon)
    flood.pusher = FloodPusher(real.daemon)
    jobs.engine = flood
    app.start()


# --- the client side ---------------------------------------------------------------------


def url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}/{path}"


def start_job(port: int) -> str:
    body = {"source": None, "image": "r2d-bench/flood:latest", "push": True}
    r = requests.post(url(port, "r2d/api/builds"), json=body, headers=HEADERS, timeout=30)
    r.raise_for_status()
    job_id: str = r.json()["id"]
    return job_id


def read_stream(port: int, job_id: str) -> tuple[int, float, bool]:
    """Follow one job's SSE stream: (events, seconds from request to close, in order)."""
    seq = 0
    in_order = True
    t0 = time.perf_counter()
    with requests.get(
        url(port, f"r2d/api/builds/{job_id}/events"), headers=HEADERS, stream=True, timeout=600
    ) as r:
        r.raise_for_status()
        rest = b""
        for chunk in r.iter_content(chunk_size=1 << 16):
            parts = (rest + chunk).split(b"\n\n")
            rest = parts.pop()
            for message in parts:
                if message.startswith(b"id: "):
                    n = int(message[4 : message.index(b"\n")])
                    in_order = in_order and n == seq + 1
                    seq = n
    return seq, time.perf_counter() - t0, in_order


def wait_finished(port: int, job_id: str) -> dict[str, Any]:
    while True:
        r = requests.get(url(port, f"r2d/api/builds/{job_id}"), headers=HEADERS, timeout=30)
        record: dict[str, Any] = r.json()
        if record["status"] not in ("queued", "running"):
            return record
        time.sleep(0.05)


def bench_loop_health(port: int, lines: int) -> dict[str, float]:
    """p50/p99 latency of GET /api/status while a job floods its log."""
    session = requests.Session()
    session.headers.update(HEADERS)
    for _ in range(20):  # warm up
        session.get(url(port, "api/status"), timeout=30)
    job_id = start_job(port)
    t0 = time.perf_counter()
    latencies = []
    while True:
        start = time.perf_counter()
        session.get(url(port, "api/status"), timeout=30).raise_for_status()
        latencies.append((time.perf_counter() - start) * 1000)
        if len(latencies) % 25 == 0:
            record = session.get(url(port, f"r2d/api/builds/{job_id}"), timeout=30).json()
            if record["status"] not in ("queued", "running"):
                break
    duration = time.perf_counter() - t0
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "max_ms": latencies[-1],
        "job_s": duration,
        "produced_lines_per_s": lines / duration,
    }


def bench_sse(port: int, clients: int, lines: int) -> dict[str, float]:
    """Clients follow a flooding job live; then one replays the finished log."""
    job_id = start_job(port)
    with ProcessPoolExecutor(clients) as pool:
        futures = [pool.submit(read_stream, port, job_id) for _ in range(clients)]
        results = [f.result() for f in futures]
    expected = lines + 2  # waiting ... ready
    ok = all(n == expected and in_order for n, _, in_order in results)
    slowest = max(seconds for _, seconds, _ in results)
    replay_n, replay_s, replay_ok = read_stream(port, job_id)
    return {
        "clients": clients,
        "all_in_order_none_lost": ok and replay_ok and replay_n == expected,
        "live_lines_per_s_per_client": expected / slowest,
        "live_lines_per_s_total": expected * clients / slowest,
        "replay_lines_per_s": expected / replay_s,
    }


def bench_images(port: int, count: int, distinct: bool = False) -> dict[str, Any]:
    """GET images vs ``docker images --format json`` with ``count`` extra images in the store.

    ``distinct=False``: ``count`` tags of the base image (one image id: one API entry with
    ``count`` tags, ``count`` CLI rows). ``distinct=True``: ``count`` images of their own
    (``docker commit`` with a different label each; no new layer data), so the per-image
    work of the listing (labels, dates, in-use flags) is paid ``count`` times.
    """
    import docker

    client = docker.APIClient(version="auto")
    base = os.environ.get("R2D_TEST_BASE_IMAGE", "r2d-test/base:latest")
    tags = [f"r2d-bench/many:t{i}" for i in range(count)]
    made: list[str] = []
    container = None
    try:
        if distinct:
            container = client.create_container(base, command="true")["Id"]
        for i, tag in enumerate(tags):
            repo, _, t = tag.partition(":")
            if container is not None:
                client.commit(container, repo, t, changes=[f"LABEL r2d-bench.i={i}"])
            else:
                client.tag(base, repo, t)
            made.append(tag)
        session = requests.Session()
        session.headers.update(HEADERS)
        api, cli = [], []
        for _ in range(7):
            start = time.perf_counter()
            r = session.get(url(port, "r2d/api/images"), timeout=120)
            r.raise_for_status()
            api.append(time.perf_counter() - start)
            n_api = len(r.json()["images"])
            start = time.perf_counter()
            out = subprocess.run(
                ["docker", "images", "--format", "json"], capture_output=True, check=True
            ).stdout
            cli.append(time.perf_counter() - start)
            n_cli = len(out.splitlines())
        return {
            "kind": "distinct images" if distinct else "tags of one image",
            "images_cli_rows": n_cli,
            "images_api_entries": n_api,
            "api_median_ms": statistics.median(api) * 1000,
            "cli_median_ms": statistics.median(cli) * 1000,
            "ratio": statistics.median(api) / statistics.median(cli),
        }
    finally:
        for tag in made:
            client.remove_image(tag)
        if container is not None:
            client.remove_container(container)
        client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--skip-images", action="store_true")
    parser.add_argument(
        "--only-images", action="store_true", help="only GET images vs docker images"
    )
    parser.add_argument(
        "--images-kind",
        choices=("tags", "distinct", "both"),
        default="both",
        help="extra tags of the base image, distinct images (docker commit), or both",
    )
    parser.add_argument(
        "--serve", nargs=3, metavar=("PORT", "ROOT", "LINES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], int(args.serve[2]))
        return

    root = tempfile.mkdtemp(prefix="r2d-bench-")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), root, str(args.lines)],
        # The source tree first, so an uninstalled checkout benchmarks itself.
        env={**os.environ, "JUPYTER_RUNTIME_DIR": f"{root}/runtime", "PYTHONPATH": REPO},
    )
    try:
        for _ in range(300):
            try:
                requests.get(url(port, "api/status"), headers=HEADERS, timeout=1)
                break
            except requests.RequestException:
                if server.poll() is not None:
                    raise SystemExit("the benchmark server did not start") from None
                time.sleep(0.1)
        results: dict[str, Any] = {"lines": args.lines}
        if not args.only_images:
            results["loop_health"] = bench_loop_health(port, args.lines)
            results["sse_1"] = bench_sse(port, 1, args.lines)
            results["sse_10"] = bench_sse(port, 10, args.lines)
        if not args.skip_images:
            if args.images_kind in ("tags", "both"):
                results["images_tags"] = bench_images(port, args.images)
            if args.images_kind in ("distinct", "both"):
                results["images_distinct"] = bench_images(port, args.images, distinct=True)
        print(json.dumps(results, indent=2))
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
