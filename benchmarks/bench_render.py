"""Benchmark of the renderer's worker processes (not a test): what a worker costs to start,
how long the answer takes once a render hits its time limit, and how long a render waits
when another one is stuck on the network.

The stuck render is real: repo2docker's R buildpack asks packagemanager.posit.co for a
snapshot with no timeout, and HTTPS_PROXY points at a local listener that accepts and never
answers. Runs against whichever ``jupyter_r2d`` is first on the path, so the same script
measures an older tree too (``PYTHONPATH=/path/to/old/tree``); a tree without time limits
reports the queued render as waiting past ``--patience``.

    .venv/bin/python benchmarks/bench_render.py [--runs 5] [--timeout 3] [--patience 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_r2d import render as renderer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import SilentProxy


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (n={len(values)})"


def make_repo(path: Path, name: str, text: str) -> Path:
    path.mkdir()
    (path / name).write_text(text)
    return path


async def run_render(repo: Path, timeout: float, workers: int) -> Any:
    """render() with the limits when this tree has them."""
    if "timeout" in inspect.signature(renderer.render).parameters:
        return await renderer.render(repo, timeout=timeout, workers=workers)
    return await renderer.render(repo)


async def outcome(repo: Path, timeout: float, workers: int) -> str:
    try:
        result = await run_render(repo, timeout, workers)
    except Exception as err:
        return f"{type(err).__name__}: {str(err)[:80]}"
    return str(result.buildpack)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=3.0, help="render time limit, s")
    parser.add_argument("--patience", type=float, default=30.0, help="give up waiting after")
    args = parser.parse_args()
    has_limits = "timeout" in inspect.signature(renderer.render).parameters
    print(f"jupyter_r2d from {Path(renderer.__file__).parent} (time limits: {has_limits})")

    with tempfile.TemporaryDirectory() as tmp:
        req = make_repo(Path(tmp, "req"), "requirements.txt", "numpy\n")
        r_repo = make_repo(Path(tmp, "r"), "runtime.txt", "r-4.3-2023-01-01\n")

        # 1. A worker's start: first render on a fresh renderer vs the next one.
        cold, warm = [], []
        for _ in range(args.runs):
            renderer.shutdown_renderer()
            start = time.perf_counter()
            await run_render(req, args.timeout, 2)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            await run_render(req, args.timeout, 2)
            warm.append(time.perf_counter() - start)
        print(f"first render, worker start included: {median_ms(cold)}")
        print(f"next render, worker reused:          {median_ms(warm)}")
        start_cost = [c - w for c, w in zip(cold, warm, strict=True)]
        print(f"worker start cost (difference):      {median_ms(start_cost)}")

        proxy = SilentProxy()
        for name in ("HTTPS_PROXY", "https_proxy"):
            os.environ[name] = proxy.url
        renderer.shutdown_renderer()  # workers take the environment when they start
        try:
            # 2. Time limit to answer: elapsed minus the limit (an upper bound: the limit
            # starts when the idle worker gets the request, a little after our clock).
            if has_limits:
                overheads = []
                for _ in range(args.runs):
                    await run_render(req, args.timeout, 2)  # an idle worker: no start cost
                    start = time.perf_counter()
                    await outcome(r_repo, args.timeout, 2)
                    overheads.append(time.perf_counter() - start - args.timeout)
                print(f"time limit ({args.timeout:g} s) to answer: <= {median_ms(overheads)}")

            # 3. A render queued behind a stuck one (workers warm, so no start cost).
            renderer.shutdown_renderer()
            await asyncio.gather(*(run_render(req, 600, 2) for _ in range(2)))
            proxy.accepted.clear()
            stuck = asyncio.ensure_future(outcome(r_repo, 600, 2))
            await asyncio.to_thread(proxy.accepted.wait, 60)
            start = time.perf_counter()
            try:
                await asyncio.wait_for(run_render(req, 600, 2), args.patience)
                print(f"render behind a stuck one: {(time.perf_counter() - start) * 1000:.0f} ms")
            except asyncio.TimeoutError:
                print(f"render behind a stuck one: > {args.patience:g} s (still waiting)")
            for conn in proxy.conns:  # unstick the stuck render: the proxy drops it
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            await stuck
        finally:
            proxy.close()
            renderer.shutdown_renderer()


if __name__ == "__main__":  # the old renderer spawns workers that import this module
    asyncio.run(main())
