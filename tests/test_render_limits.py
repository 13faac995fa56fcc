"""Renders are bounded: a time limit, several at once, a stuck or crashed worker is killed and
replaced, a missing network is the upstream's fault (502), not the source's (400).

The hang is real: repo2docker's R buildpack asks packagemanager.posit.co for a snapshot with
``requests`` and no timeout. Pointing HTTPS_PROXY at a listener that accepts and never
answers makes that call wait forever, as a silent network service would. Workers inherit the
environment when they start, so every test here starts from a renderer with no workers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import httpd_dockerfile, make_repo
from servers import SilentProxy
from tornado.httpclient import HTTPClientError

from jupyter_r2d.errors import BuildFailed, RenderTimeout
from jupyter_r2d.render import shutdown_renderer, worker_pids
from jupyter_r2d.sources import SourcePolicy, SourceSpec, prepare_source, preview

TIMEOUT = 5.0  # the render time limit these tests configure
R_RUNTIME = "r-4.3-2023-01-01\n"  # an R repo: rendering it calls the network


def _set_proxy(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fresh_renderer() -> Iterator[None]:
    """No renderer worker before the test (they inherit os.environ when they start), none
    left after it."""
    shutdown_renderer()
    yield
    shutdown_renderer()
    assert _worker_processes() == []


@pytest.fixture
def silent_proxy(monkeypatch: pytest.MonkeyPatch, fresh_renderer: None) -> Iterator[SilentProxy]:
    """Workers started during the test reach the network through a proxy that hangs."""
    proxy = SilentProxy()
    _set_proxy(monkeypatch, proxy.url)
    yield proxy
    shutdown_renderer()  # before the environment is restored and the proxy goes
    proxy.close()


def _worker_processes() -> list[int]:
    """Children of this process (live or unreaped) that run a renderer worker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"jupyter_r2d.workerpool" in cmdline:
            found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    """The process has ended and was reaped (no zombie left)."""
    return not Path(f"/proc/{pid}").exists()


@pytest.fixture
def jp_server_config() -> dict[str, object]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
        "JupyterR2D": {"render_timeout": TIMEOUT, "render_workers": 2},
    }


@pytest.fixture
def repos(jp_root_dir: Path) -> Path:
    """An R repo (its render calls the network) and a requirements.txt one (it does not)."""
    make_repo(jp_root_dir / "rrepo", {"runtime.txt": R_RUNTIME}, git=False)
    make_repo(jp_root_dir / "req", {"requirements.txt": "numpy\n"}, git=False)
    return jp_root_dir


async def post(jp_fetch: Any, *parts: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST JSON; (status, parsed body) for success and error answers alike."""
    try:
        response = await jp_fetch("r2d", "api", *parts, method="POST", body=json.dumps(body))
    except HTTPClientError as err:
        assert err.response is not None
        response = err.response
    return response.code, json.loads(response.body)


def preview_of(path: str) -> dict[str, Any]:
    return {"source": {"path": path}}


# --- (a) a stuck render: time limit, others go on, its worker is killed ---------------------


async def test_stuck_render_times_out_while_others_go_on(
    jp_fetch: Any, repos: Path, silent_proxy: SilentProxy
) -> None:
    stuck = asyncio.ensure_future(post(jp_fetch, "preview", body=preview_of("rrepo")))
    await silent_proxy.wait_accepted()
    reached = time.monotonic()  # the render is now inside its time limit, waiting for an answer
    [stuck_pid] = worker_pids()

    # Started after the stuck one, it answers at once: renders run side by side.
    started = time.monotonic()
    code, body = await asyncio.wait_for(post(jp_fetch, "preview", body=preview_of("req")), 20)
    assert time.monotonic() - started < TIMEOUT
    assert code == 200, body
    assert body["buildpack"] == "PythonBuildPack"
    assert not stuck.done()

    code, body = await asyncio.wait_for(stuck, TIMEOUT + 20)
    answered = time.monotonic() - reached
    assert code == 504, body
    assert body["reason"] == "RenderTimeout"
    assert f"render_timeout = {TIMEOUT:g} s" in body["message"]
    assert answered < TIMEOUT + 2, answered

    # The stuck worker was killed: its process is gone and its connection dropped.
    assert _gone(stuck_pid)
    assert stuck_pid not in worker_pids()
    assert await silent_proxy.client_left(silent_proxy.conns[0])

    code, body = await post(jp_fetch, "preview", body=preview_of("req"))
    assert code == 200, body


# --- (b) no network: 502 with repo2docker's message -----------------------------------------


async def test_no_network_is_a_bad_gateway_not_a_bad_source(
    jp_fetch: Any, repos: Path, fresh_renderer: None
) -> None:
    # No proxy and no internet: the name of repo2docker's service does not resolve.
    try:
        socket.getaddrinfo("packagemanager.posit.co", 443)
    except OSError:
        pass
    else:
        pytest.skip("this machine reaches the internet: no 'no network' to test")
    code, body = await post(jp_fetch, "preview", body=preview_of("rrepo"))
    assert code == 502, body
    assert body["reason"] == "UpstreamUnavailable"
    assert "repo2docker could not reach a network service" in body["message"]
    assert "packagemanager.posit.co" in body["message"]  # repo2docker's own words
    assert "field" not in body


async def test_unreachable_proxy_is_a_bad_gateway(
    jp_fetch: Any, repos: Path, fresh_renderer: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same without depending on DNS: a proxy port where nothing listens.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _set_proxy(monkeypatch, f"http://127.0.0.1:{port}")
    code, body = await post(jp_fetch, "preview", body=preview_of("rrepo"))
    assert code == 502, body
    assert "Unable to connect to proxy" in body["message"]
    shutdown_renderer()  # its workers saw this proxy


# --- (c) a build job whose render hangs -----------------------------------------------------


@pytest.mark.docker
async def test_build_job_with_stuck_render_fails_and_others_go_on(
    jp_fetch: Any,
    repos: Path,
    silent_proxy: SilentProxy,
    base_image: str,
    unique_name: str,
    cleanup_images: list[str],
) -> None:
    make_repo(repos / "proj", {"Dockerfile": httpd_dockerfile(base_image)}, git=False)
    code, stuck = await post(jp_fetch, "builds", body={"source": {"path": "rrepo"}, "image": "x:y"})
    assert code == 202, stuck
    await silent_proxy.wait_accepted()

    cleanup_images.append(f"{unique_name}:ok")
    body = {"source": {"path": "proj"}, "image": f"{unique_name}:ok"}
    code, other = await post(jp_fetch, "builds", body=body)
    assert code == 202, other
    other = await _finished(jp_fetch, other["id"], 120)
    assert other["status"] == "succeeded", other

    stuck = await _finished(jp_fetch, stuck["id"], TIMEOUT + 20)
    assert stuck["status"] == "failed", stuck
    assert f"render_timeout = {TIMEOUT:g} s" in stuck["error"]


async def test_cancelled_job_kills_its_stuck_render(
    jp_fetch: Any, repos: Path, silent_proxy: SilentProxy
) -> None:
    code, job = await post(jp_fetch, "builds", body={"source": {"path": "rrepo"}, "image": "x:y"})
    assert code == 202, job
    await silent_proxy.wait_accepted()
    [pid] = worker_pids()
    code, _ = await post(jp_fetch, "builds", job["id"], "cancel", body={})
    assert code == 202
    job = await _finished(jp_fetch, job["id"], 10)
    assert job["status"] == "cancelled"
    assert _gone(pid) and worker_pids() == []
    assert await silent_proxy.client_left(silent_proxy.conns[0])


async def _finished(jp_fetch: Any, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = json.loads((await jp_fetch("r2d", "api", "builds", job_id)).body)
        if record["status"] not in ("queued", "running"):
            return record
        assert time.monotonic() < deadline, record
        await asyncio.sleep(0.1)


# --- crashes and shutdown ---------------------------------------------------------------


async def test_crashed_worker_fails_its_render_and_the_next_works(
    jp_fetch: Any, repos: Path, silent_proxy: SilentProxy
) -> None:
    stuck = asyncio.ensure_future(post(jp_fetch, "preview", body=preview_of("rrepo")))
    await silent_proxy.wait_accepted()
    [pid] = worker_pids()
    os.kill(pid, signal.SIGKILL)  # as the OOM killer would
    code, body = await asyncio.wait_for(stuck, 10)
    assert code == 500, body
    assert "worker process stopped unexpectedly" in body["message"]
    assert "SIGKILL" in body["message"]
    assert _gone(pid)
    code, body = await post(jp_fetch, "preview", body=preview_of("req"))
    assert code == 200, body


async def test_shutdown_kills_a_stuck_render(
    repos: Path, silent_proxy: SilentProxy, tmp_path: Path
) -> None:
    policy = SourcePolicy(render_timeout=60, render_workers=2)
    stuck = asyncio.ensure_future(
        preview(SourceSpec(path="rrepo"), root_dir=repos, workdir=tmp_path, policy=policy)
    )
    await silent_proxy.wait_accepted()
    [pid] = worker_pids()
    # The server's stop: it must not wait for the stuck render (nor leave it running).
    await asyncio.wait_for(asyncio.to_thread(shutdown_renderer), 10)
    assert _gone(pid)
    with pytest.raises(BuildFailed, match="stopped unexpectedly"):
        await asyncio.wait_for(stuck, 10)


async def test_time_limit_removes_the_context_tarball(
    repos: Path, silent_proxy: SilentProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    scratch = tmp_path / "scratch"  # the server's temp dir, where config copies are staged
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))  # and the workers' (they start afresh)
    policy = SourcePolicy(render_timeout=1, render_workers=1)
    with pytest.raises(RenderTimeout, match=r"render_timeout = 1 s"):
        await prepare_source(
            SourceSpec(path="rrepo"),
            root_dir=repos,
            workdir=work,
            on_event=lambda _e: None,
            policy=policy,
        )
    assert worker_pids() == [] and _worker_processes() == []
    assert list(work.iterdir()) == []  # neither the reserved tarball nor anything else
    assert list(scratch.iterdir()) == []  # nor the killed worker's copies of the config
