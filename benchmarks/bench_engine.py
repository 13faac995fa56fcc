"""Benchmark of the buildx engine (not a test): the same build through the engine, through
``docker buildx build`` directly, and through the repo2docker CLI.

Three scenarios, the three tools alternated round by round (the order rotates):

- ``warm``: rebuild of a small Dockerfile context whose every step is cached;
- ``cold``: a context of 10,000 small files plus one 100 MB random file, with the build
  cache pruned (``docker builder prune -af``) and the built images removed before every run
  of every tool;
- ``warm-large``: rebuild of that large context, every step cached.

The engine runs the server's path: ``sources.prepare_source`` of a folder (repo2docker's
detection in the renderer worker) and then ``BuildxEngine.build``; both parts are timed, so
"engine" is the build alone and "engine+prepare" the whole. "direct" is the exact argument
list the engine gave buildx (recorded from the engine's own run) on the folder instead of
the engine's context tar, with its output thrown away instead of parsed. The repo2docker
CLI is ``repo2docker --no-run ...`` on the folder.

    .venv/bin/python benchmarks/bench_engine.py [--runs 5] [--quick] [--scenario warm|...]

Writes JSON under benchmarks/results/ and prints a table. It prunes the daemon's whole
build cache in the cold scenario (other users of the daemon lose their cache too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # an uninstalled checkout benchmarks itself

from jupyter_r2d import render, sources  # noqa: E402
from jupyter_r2d.engine import BuildEvent, BuildRequest, BuildxEngine  # noqa: E402

TOOLS = ("engine", "direct", "r2d_cli")
#: Every image this benchmark makes is tagged under this repository (removed at the end).
IMAGE_REPO = "r2d-bench-engine"
BASE_IMAGE = os.environ.get("R2D_TEST_BASE_IMAGE", "r2d-test/base:latest")

DOCKERFILE = """\
FROM {base}
COPY . /srv/repo
RUN echo built > /built.txt
"""


# --- measuring helpers ------------------------------------------------------------------


def reset_peak_rss() -> None:
    """Reset this process's VmHWM (Linux ``clear_refs`` 5) so the next read is this run's."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_kb(pid: int | str = "self") -> int | None:
    """VmHWM (peak resident set) of a process in KiB, or None when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def renderer_peak_rss_kb() -> int | None:
    """Peak RSS of repo2docker's renderer worker processes (they live as long as the server)."""
    peaks = [peak_rss_kb(pid) for pid in render.worker_pids()]
    return max((p for p in peaks if p is not None), default=None)


def run_timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run a command with its output discarded: (wall seconds, peak RSS KiB of it and of the
    children it waited for). Raises with the command's output when it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    # wait4 instead of wait: the kernel hands back the child's rusage (ru_maxrss) for free.
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        # Run it again to show why (the timed run discarded its output to stay comparable).
        again = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        tail = (again.stdout + again.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}):\n" + "\n".join(tail))
    return seconds, usage.ru_maxrss


def docker(*args: str, check: bool = True) -> str:
    """A docker CLI command's stdout."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def remove_bench_images() -> None:
    """Remove every image tagged under :data:`IMAGE_REPO` (quietly; none is fine)."""
    refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO).split()
    if refs:
        docker("rmi", "-f", *refs, check=False)


def make_cold() -> None:
    """Start from nothing: no build cache, no built image, dirty pages of the last run
    flushed (so one run's writeback does not land in the next run's time)."""
    remove_bench_images()
    docker("builder", "prune", "-af")
    subprocess.run(["sync"], check=False)


# --- contexts -----------------------------------------------------------------------------


def write_context(folder: Path, files: int, big_mb: int) -> None:
    """A Dockerfile repo: ``files`` small text files in 100 directories, and one random
    file of ``big_mb`` MB (incompressible, like data or a model)."""
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text(DOCKERFILE.format(base=BASE_IMAGE))
    rng = random.Random(42)  # the same bytes every time: comparable runs
    for i in range(files):
        sub = folder / "data" / f"d{i % 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.txt").write_text(f"{i}\n" + "".join(rng.choices("abcdef\n", k=800)))
    if big_mb:
        with (folder / "blob.bin").open("wb") as out:
            for _ in range(big_mb):
                out.write(os.urandom(1 << 20))


@dataclass
class Scenario:
    """One context and how to start each run from the same state."""

    name: str
    description: str
    files: int
    big_mb: int
    cold: bool

    def tag(self, tool: str) -> str:
        """Each tool its own tag, so removing one tool's image never touches another's."""
        return f"{IMAGE_REPO}:{self.name}-{tool}"


# --- the engine, instrumented -----------------------------------------------------------------


@dataclass
class Probe:
    """Times the engine's subprocesses without changing the engine: when buildx starts and
    ends, and how long ``docker buildx inspect`` (run before every build) takes."""

    argv: list[str] = field(default_factory=list)
    spawned: float = 0.0
    exited: float = 0.0
    inspect_s: float = 0.0

    def install(self, engine: BuildxEngine) -> Callable[[], None]:
        """Wrap the builder's ``builder_info`` and asyncio's subprocess start; return undo."""
        real_exec = asyncio.create_subprocess_exec
        builder = engine.builder
        real_info = builder.builder_info
        probe = self

        async def timed_info() -> tuple[str | None, str | None, str | None]:
            start = time.perf_counter()
            try:
                return await real_info()
            finally:
                probe.inspect_s += time.perf_counter() - start

        async def recording_exec(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
            proc = await real_exec(*args, **kwargs)
            if list(args[1:3]) == ["buildx", "build"]:
                probe.argv = [str(a) for a in args]
                probe.spawned = time.perf_counter()
                real_wait = proc.wait

                async def wait() -> int:
                    code = await real_wait()
                    probe.exited = probe.exited or time.perf_counter()
                    return code

                proc.wait = wait  # type: ignore[method-assign]
            return proc

        patched = "builder_info" in vars(builder)  # already an instance attribute?
        builder.builder_info = timed_info  # type: ignore[method-assign]
        asyncio.create_subprocess_exec = recording_exec

        def undo() -> None:
            asyncio.create_subprocess_exec = real_exec
            if patched:
                builder.builder_info = real_info  # type: ignore[method-assign]
            else:
                del builder.builder_info

        return undo

    def reset(self) -> None:
        """Forget the previous run."""
        self.spawned = self.exited = self.inspect_s = 0.0


class Bench:
    """The three tools on one machine, sharing a temp root and an engine."""

    def __init__(self, root: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.root = root
        self.work = root / "work"
        self.work.mkdir()
        self.loop = loop
        self.engine = BuildxEngine()
        self.probe = Probe()
        self.direct_argv: list[str] | None = None
        self.r2d_cli = shutil.which("repo2docker", path=str(Path(sys.executable).parent))
        self.r2d_cli = self.r2d_cli or shutil.which("repo2docker")

    def sync(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the bench's loop (the renderer pool and engine live on)."""
        return self.loop.run_until_complete(coro)

    async def engine_run(self, scenario: Scenario) -> dict[str, Any]:
        """prepare_source of the folder, then BuildxEngine.build, as the server does."""
        events = 0

        def on_event(_event: BuildEvent) -> None:
            nonlocal events
            events += 1

        spec = sources.SourceSpec(path=scenario.name)
        undo = self.probe.install(self.engine)
        self.probe.reset()
        reset_peak_rss()
        try:
            start = time.perf_counter()
            prepared = await sources.prepare_source(
                spec, root_dir=self.root, workdir=self.work, on_event=on_event
            )
            prepared_at = time.perf_counter()
            try:
                request = BuildRequest(
                    scenario.tag("engine"), context=prepared.context, labels=prepared.labels
                )
                result = await self.engine.build(request, on_event)
            finally:
                await asyncio.to_thread(prepared.cleanup)
            end = time.perf_counter()
        finally:
            undo()
        if not result.image_id:
            raise RuntimeError("the engine reported no image id")
        probe = self.probe
        return {
            "seconds": end - prepared_at,
            "with_prepare_s": end - start,
            "prepare_s": prepared_at - start,
            # Where the engine's time goes around the buildx process itself.
            "inspect_s": probe.inspect_s,
            "before_buildx_s": probe.spawned - prepared_at,
            "buildx_process_s": probe.exited - probe.spawned,
            "after_buildx_s": end - probe.exited,
            "events": events,
            "peak_rss_kb": peak_rss_kb(),
            "renderer_peak_rss_kb": renderer_peak_rss_kb(),
        }

    def direct_run(self, scenario: Scenario) -> dict[str, Any]:
        """The engine's own buildx argument list on the folder itself (what one would type),
        output discarded instead of parsed."""
        assert self.direct_argv is not None
        scratch = Path(tempfile.mkdtemp(prefix="direct-", dir=self.work))
        try:
            argv = list(self.direct_argv)
            if argv[-1] == "-":
                # The engine sends the context tar the render worker wrote on stdin; buildx
                # alone reads the folder (and, warm, sends only what changed).
                folder = self.root / scenario.name
                argv[-1] = str(folder)
                at = argv.index("--file") + 1
                argv[at] = str(folder / argv[at])
            # Same flags; only the scratch files and the tag are the direct run's own.
            for flag, value in (
                ("--iidfile", str(scratch / "iid")),
                ("--metadata-file", str(scratch / "metadata.json")),
                ("--tag", scenario.tag("direct")),
            ):
                argv[argv.index(flag) + 1] = value
            seconds, rss = run_timed(argv, self.engine.builder.cli_env())
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return {"seconds": seconds, "peak_rss_kb": rss}

    def r2d_cli_run(self, scenario: Scenario) -> dict[str, Any]:
        """``repo2docker --no-run`` on the folder (as root it needs a non-root user)."""
        assert self.r2d_cli is not None
        argv = [
            self.r2d_cli, "--no-run", "--user-id", "1000", "--user-name", "jovyan",
            "--image-name", scenario.tag("r2d_cli"), str(self.root / scenario.name),
        ]  # fmt: skip
        seconds, rss = run_timed(argv)
        return {"seconds": seconds, "peak_rss_kb": rss}

    def run(self, tool: str, scenario: Scenario) -> dict[str, Any]:
        """One timed run of ``tool``, from a cold start when the scenario says so."""
        if scenario.cold:
            make_cold()
        load = os.getloadavg()[0]
        if tool == "engine":
            out: dict[str, Any] = self.sync(self.engine_run(scenario))
        elif tool == "direct":
            out = self.direct_run(scenario)
        else:
            out = self.r2d_cli_run(scenario)
        out["load_1min_before"] = load
        return out

    def prime(self, scenario: Scenario) -> dict[str, Any]:
        """Untimed first runs: start the renderer worker, record the engine's buildx argv,
        check that the repo2docker CLI builds here, and (warm) fill the cache."""
        first: dict[str, Any] = self.sync(self.engine_run(scenario))
        self.direct_argv = list(self.probe.argv)
        self.direct_run(scenario)
        self.r2d_cli_run(scenario)
        return first


# --- the run ------------------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    """Median of one field over runs."""
    return float(statistics.median(run[key] for run in runs))


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians, ratios of medians and the median of per-round ratios (robust to drift)."""
    engine, direct, cli = (runs[t] for t in TOOLS)
    med = {
        "engine_s": median_of(engine, "seconds"),
        "engine_with_prepare_s": median_of(engine, "with_prepare_s"),
        "prepare_s": median_of(engine, "prepare_s"),
        "engine_inspect_s": median_of(engine, "inspect_s"),
        "engine_before_buildx_s": median_of(engine, "before_buildx_s"),
        "engine_buildx_process_s": median_of(engine, "buildx_process_s"),
        "engine_after_buildx_s": median_of(engine, "after_buildx_s"),
        "direct_s": median_of(direct, "seconds"),
        "r2d_cli_s": median_of(cli, "seconds"),
    }
    paired = [e["seconds"] / d["seconds"] for e, d in zip(engine, direct, strict=True)]
    return {
        "median": med,
        "ratio": {
            "engine_vs_direct": med["engine_s"] / med["direct_s"],
            "engine_vs_direct_paired_median": statistics.median(paired),
            "engine_with_prepare_vs_direct": med["engine_with_prepare_s"] / med["direct_s"],
            "engine_vs_r2d_cli": med["engine_s"] / med["r2d_cli_s"],
            "engine_with_prepare_vs_r2d_cli": med["engine_with_prepare_s"] / med["r2d_cli_s"],
            "direct_vs_r2d_cli": med["direct_s"] / med["r2d_cli_s"],
        },
        "peak_rss_kb": {
            "engine_process": max(r["peak_rss_kb"] or 0 for r in engine),
            "renderer_worker": max(r["renderer_peak_rss_kb"] or 0 for r in engine),
            "direct_buildx": max(r["peak_rss_kb"] for r in direct),
            "r2d_cli": max(r["peak_rss_kb"] for r in cli),
        },
        "engine_events_median": median_of(engine, "events"),
    }


def run_scenario(bench: Bench, scenario: Scenario, runs: int) -> dict[str, Any]:
    """Build the context, prime, then ``runs`` rounds of the three tools, order rotated."""
    started = time.perf_counter()
    write_context(bench.root / scenario.name, scenario.files, scenario.big_mb)
    print(f"[{scenario.name}] context written in {time.perf_counter() - started:.1f} s", flush=True)
    load_before = os.getloadavg()
    first = bench.prime(scenario)
    results: dict[str, list[dict[str, Any]]] = {tool: [] for tool in TOOLS}
    for i in range(runs):
        order = TOOLS[i % 3 :] + TOOLS[: i % 3]  # no tool always runs first
        for tool in order:
            results[tool].append(bench.run(tool, scenario))
        line = ", ".join(f"{t} {results[t][-1]['seconds']:.2f}s" for t in TOOLS)
        print(f"[{scenario.name}] round {i + 1}/{runs}: {line}", flush=True)
    if scenario.cold:
        make_cold()  # leave no 100 MB cache entries of ours behind
    shutil.rmtree(bench.root / scenario.name, ignore_errors=True)
    return {
        "description": scenario.description,
        "files": scenario.files,
        "big_mb": scenario.big_mb,
        "cold": scenario.cold,
        # Untimed priming run: the first prepare_source also starts the renderer worker.
        "first_engine_run": first,
        "buildx_argv": bench.direct_argv,
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "summary": summarise(results),
        "runs": results,
    }


def environment() -> dict[str, Any]:
    """What the figures were measured on."""
    import repo2docker

    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "docker": docker("version", "--format", "{{.Server.Version}}").strip(),
        "buildx": docker("buildx", "version").strip(),
        "repo2docker": repo2docker.__version__,
        "base_image": BASE_IMAGE,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def print_table(report: dict[str, Any]) -> None:
    """The figures as a Markdown table, then where the engine's extra time goes."""
    print()
    print(
        "| scenario | engine | engine+prepare | direct buildx | repo2docker CLI "
        "| engine/direct | (engine+prepare)/direct | engine/CLI | (engine+prepare)/CLI |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, data in report["scenarios"].items():
        m, r = data["summary"]["median"], data["summary"]["ratio"]
        print(
            f"| {name} | {m['engine_s']:.2f} s | {m['engine_with_prepare_s']:.2f} s "
            f"| {m['direct_s']:.2f} s | {m['r2d_cli_s']:.2f} s "
            f"| {r['engine_vs_direct']:.2f} | {r['engine_with_prepare_vs_direct']:.2f} "
            f"| {r['engine_vs_r2d_cli']:.2f} | {r['engine_with_prepare_vs_r2d_cli']:.2f} |"
        )
    print()
    first = next(iter(report["scenarios"].values()))["first_engine_run"]
    print(f"first prepare_source (starts the renderer worker): {first['prepare_s']:.2f} s")
    for name, data in report["scenarios"].items():
        s = data["summary"]
        m, rss = s["median"], s["peak_rss_kb"]
        print(
            f"{name}: prepare {m['prepare_s'] * 1000:.0f} ms; engine build = "
            f"{m['engine_before_buildx_s'] * 1000:.0f} ms before buildx "
            f"(buildx inspect {m['engine_inspect_s'] * 1000:.0f} ms) + buildx "
            f"{m['engine_buildx_process_s']:.2f} s + {m['engine_after_buildx_s'] * 1000:.0f} ms "
            f"after; {s['engine_events_median']:.0f} events; paired engine/direct "
            f"{s['ratio']['engine_vs_direct_paired_median']:.2f}; peak RSS: engine process "
            f"{rss['engine_process'] / 1024:.0f} MiB, renderer worker "
            f"{rss['renderer_worker'] / 1024:.0f} MiB, buildx {rss['direct_buildx'] / 1024:.0f} "
            f"MiB, repo2docker CLI {rss['r2d_cli'] / 1024:.0f} MiB; load "
            f"{data['load_avg_before'][0]:.2f} -> {data['load_avg_after'][0]:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (default 5)")
    parser.add_argument(
        "--quick", action="store_true", help="2 runs, cold context of 1,000 files + 10 MB"
    )
    parser.add_argument("--scenario", choices=("warm", "cold", "warm-large", "all"), default="all")
    parser.add_argument("--files", type=int, default=10_000, help="small files (cold)")
    parser.add_argument("--big-mb", type=int, default=100, help="size of the big file (cold)")
    args = parser.parse_args()
    runs, files, big_mb = args.runs, args.files, args.big_mb
    if args.quick:
        runs, files, big_mb = min(runs, 2), min(files, 1000), min(big_mb, 10)

    if docker("images", "-q", BASE_IMAGE, check=False).strip() == "":
        raise SystemExit(f"base image {BASE_IMAGE} missing: run scripts/testbed first")
    scenarios = [
        Scenario("warm", "rebuild of a small context, every step cached", 20, 0, cold=False),
        Scenario(
            "cold",
            f"{files} small files + {big_mb} MB file, cache pruned and image removed each run",
            files,
            big_mb,
            cold=True,
        ),
        # The engine sends the whole context tar every time; buildx on a folder sends
        # only what changed: the cost shows on a warm rebuild of a large context.
        Scenario(
            "warm-large",
            f"rebuild of {files} small files + {big_mb} MB, every step cached",
            files,
            big_mb,
            cold=False,
        ),
    ]
    if args.scenario != "all":
        scenarios = [s for s in scenarios if s.name == args.scenario]

    report: dict[str, Any] = {"environment": environment(), "runs": runs, "scenarios": {}}
    root = Path(tempfile.mkdtemp(prefix="r2d-bench-engine-"))
    loop = asyncio.new_event_loop()
    bench = Bench(root, loop)
    if bench.r2d_cli is None:
        raise SystemExit("the repo2docker CLI is not installed in this environment")
    try:
        for scenario in scenarios:
            report["scenarios"][scenario.name] = run_scenario(bench, scenario, runs)
    finally:
        remove_bench_images()
        render.shutdown_renderer()
        bench.sync(bench.engine.close())
        loop.close()
        shutil.rmtree(root, ignore_errors=True)

    print_table(report)
    out_dir = REPO / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    suffix = "-quick" if args.quick else ""
    out = out_dir / f"bench_engine-{time.strftime('%Y%m%d-%H%M%S')}{suffix}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nJSON: {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
