"""Benchmark (not a test): the first build after the server starts, against a warm build and
against ``docker buildx build`` of the same one-line Dockerfile.

Each run starts a fresh Jupyter server with jupyter_r2d (and the other installed server
extensions: JupyterLab's) in a child process (this checkout, see tests/servers.py), builds
``FROM <base image>`` as soon as the server answers (the first build), then builds it again
twice (warm builds), then runs ``docker buildx build`` on the folder directly. A second
server per run gets its first build ``--settle`` seconds after it answers, as a user's
first click comes after JupyterLab has loaded (and the panel has asked for the engine's
status, as it does on load: that probes the buildx builder). A build is timed from its
POST to the job's end as polled every 10 ms. Medians of ``--runs`` runs, and the ratios.

    .venv/bin/python benchmarks/bench_first_build.py [--runs 5] [--settle 2]

To measure another tree (an older commit), copy this script into that tree's benchmarks/
and run it from that tree's root: the server runs the tree the script is in, and
``python -m jupyter_server`` puts the working directory first on its path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import ServerProcess, jupyter_server

BASE = os.environ.get("R2D_TEST_BASE_IMAGE", "r2d-test/base:latest")


def timed_build(server: ServerProcess, image: str) -> tuple[float, float]:
    """(seconds from the POST of a build of ``one`` to the end of its job, seconds from the
    POST to the job's first ``building`` event: the request, the queue, the folder check and
    repo2docker's render, where the first build waited for the render worker; the server
    runs on this machine, so its clock is ours). The build must succeed."""
    posted = datetime.now(timezone.utc)
    started = time.monotonic()
    body = {"source": {"path": "one"}, "image": image}
    response = server.request("POST", "r2d/api/builds", json=body)
    response.raise_for_status()
    job_id = response.json()["id"]
    while True:
        record = server.request("GET", f"r2d/api/builds/{job_id}").json()
        if record["status"] not in ("queued", "running"):
            break
        time.sleep(0.01)
    took = time.monotonic() - started
    if record["status"] != "succeeded":
        raise RuntimeError(f"build failed: {record.get('error')}")
    stream = server.request("GET", f"r2d/api/builds/{job_id}/events").text
    events = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: ")]
    times = {}
    for event in events:
        times.setdefault(event["phase"], datetime.fromisoformat(event["time"]))
    return took, (times["building"] - posted).total_seconds()


def direct_build(folder: Path, image: str) -> float:
    started = time.monotonic()
    subprocess.run(
        ["docker", "buildx", "build", "-q", "-t", image, str(folder)],
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


Timing = tuple[float, float]  # (whole build, until the image build starts) in seconds


def one_run(work: Path, image: str, settle: float) -> tuple[Timing, Timing, list[Timing], float]:
    root = work / "root"
    (root / "one").mkdir(parents=True)
    (root / "one" / "Dockerfile").write_text(f"FROM {BASE}\n")
    quiet = "--ServerApp.log_level=WARN"
    with jupyter_server(work, root, work / "data", quiet, name="at-once") as server:
        first = timed_build(server, image)
        warm = [timed_build(server, image) for _ in range(2)]
    with jupyter_server(work, root, work / "data-2", quiet, name="settled") as server:
        server.request("GET", "r2d/api/engine").raise_for_status()  # as the panel does
        time.sleep(settle)
        settled = timed_build(server, image)
    return first, settled, warm, direct_build(root / "one", image)


def show(timing: Timing) -> str:
    return f"{timing[0]:.2f} s (before building {timing[1]:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--settle", type=float, default=2.0)
    args = parser.parse_args()
    image = f"r2d-bench/first-build:{uuid.uuid4().hex[:8]}"
    firsts: list[Timing] = []
    settleds: list[Timing] = []
    warms: list[Timing] = []
    directs: list[float] = []
    try:
        for run in range(args.runs):
            work = Path(tempfile.mkdtemp(prefix="r2d-bench-first-"))
            try:
                first, settled, warm, direct = one_run(work, image, args.settle)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            firsts.append(first)
            settleds.append(settled)
            warms.extend(warm)
            directs.append(direct)
            print(
                f"run {run + 1}: first {show(first)}, {args.settle:g} s later {show(settled)}, "
                f"warm {', '.join(show(w) for w in warm)}, docker buildx build {direct:.2f} s",
                flush=True,
            )
    finally:
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)

    def median(timings: list[Timing]) -> Timing:
        return statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)

    first, settled, warm = median(firsts), median(settleds), median(warms)
    direct = statistics.median(directs)
    print(f"\nmedians of {args.runs} runs (warm: {len(warms)} builds)")
    print(f"first build, at once       {show(first)}")
    print(f"first build, {args.settle:g} s later    {show(settled)}")
    print(f"warm build                 {show(warm)}")
    print(f"docker buildx build        {direct:.2f} s")
    print(f"first at once / warm       {first[0] / warm[0]:.2f}x")
    print(f"first {args.settle:g} s later / warm    {settled[0] / warm[0]:.2f}x (target <= 1.5x)")
    print(f"warm / docker buildx       {warm[0] / direct:.2f}x")


if __name__ == "__main__":
    main()
