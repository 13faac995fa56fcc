"""The build-intent engine against the real daemon and the test bed's registries.

Every test runs for both engines: ``buildx`` (the CLI plugin, docker driver) and
``docker-api`` (docker-py's classic builder).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import os
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from conftest import Registry, httpd_dockerfile, make_repo
from dockerimages import build_image

from jupyter_r2d import labels
from jupyter_r2d.engine import (
    BuildContext,
    BuildEvent,
    BuildRequest,
    ContainerEngine,
    DockerApiEngine,
    make_engine,
)
from jupyter_r2d.engine.buildx import JOB_ENV
from jupyter_r2d.errors import BuildCancelled, BuildFailed
from jupyter_r2d.lines import MAX_LINE, cut_mark
from jupyter_r2d.registries import Registry as Login

pytestmark = [pytest.mark.docker]

TERMINAL = {"ready", "failed", "cancelled"}


@pytest.fixture(params=["buildx", "docker-api"])
def engine(request: pytest.FixtureRequest, base_image: str) -> Iterator[ContainerEngine]:
    """Each engine in turn, against the local daemon."""
    instance = make_engine(request.param)
    yield instance
    asyncio.run(instance.close())


class Recorder:
    """Collects a job's events and checks the terminal-event contract."""

    def __init__(self) -> None:
        self.events: list[BuildEvent] = []
        self.times: list[float] = []

    def __call__(self, event: BuildEvent) -> None:
        self.events.append(event)
        self.times.append(time.monotonic())

    @property
    def phases(self) -> list[str]:
        return [e.phase for e in self.events]

    @property
    def text(self) -> str:
        return "\n".join(json.dumps(e.to_dict()) for e in self.events)

    def terminal(self) -> BuildEvent:
        ends = [e for e in self.events if e.phase in TERMINAL]
        assert len(ends) == 1, self.phases
        assert self.events[-1] is ends[0]
        return ends[0]


def context_of(repo: Path) -> BuildContext:
    return BuildContext(path=repo, dockerfile="Dockerfile")


@pytest.fixture
def repo(tmp_path: Path, base_image: str) -> Path:
    """A Dockerfile repo serving a page with busybox httpd, with a few log lines."""
    return make_repo(
        tmp_path / "repo",
        {"Dockerfile": httpd_dockerfile(base_image, "RUN echo step-output && seq 1 3\n")},
        git=False,
    )


async def stop_containers(engine: ContainerEngine, recorder: Recorder) -> None:
    """Remove any container a run of this test started."""
    for event in recorder.events:
        if event.extra.get("container"):
            with contextlib.suppress(Exception):
                await engine.containers.stop(event.extra["container"])


async def test_build_only(engine, repo, unique_name, cleanup_images, docker_client):
    image = f"{unique_name}:only"
    cleanup_images.append(image)
    events = Recorder()
    request = BuildRequest(image, context_of(repo), labels={labels.JOB: "job-1"})
    result = await engine.build(request, events)

    ready = events.terminal()
    assert ready.phase == "ready" and ready.extra["image_id"] == result.image_id
    assert "building" in events.phases and "built" in events.phases
    assert not {"pushing", "launching"} & set(events.phases)
    assert any("step-output" in e.message for e in events.events), events.text
    steps = [e.progress for e in events.events if e.progress and e.progress.kind == "step"]
    assert steps and steps[-1].current == steps[-1].total >= 3, steps
    inspected = docker_client.inspect_image(image)
    assert inspected["Id"] == result.image_id
    assert inspected["Config"]["Labels"][labels.JOB] == "job-1"
    assert result.digest is None and result.container is None


async def test_build_and_run_serves_its_url(engine, repo, unique_name, cleanup_images):
    image = f"{unique_name}:run"
    cleanup_images.append(image)
    events = Recorder()
    try:
        request = BuildRequest(image, context_of(repo), run=True, job_id=uuid.uuid4().hex[:12])
        result = await engine.build(request, events)
        assert result.container is not None
        url = result.container.url
        assert url and url.startswith("http://127.0.0.1:"), url
        page = await asyncio.to_thread(requests.get, url + "built.txt", timeout=10)
        assert page.text.strip() == "built-by-r2d"
        assert events.phases.index("built") < events.phases.index("launching")
        assert events.terminal().extra["url"] == url

        listed = {c.id: c for c in await engine.containers.list([result.container.id])}
        assert listed[result.container.id].job_id == request.job_id
        assert listed[result.container.id].url == url
        await engine.containers.stop(result.container.id)
        assert await engine.containers.list([result.container.id]) == []
    finally:
        await stop_containers(engine, events)


async def test_build_and_push(engine, repo, registry: Registry, unique_name, cleanup_images):
    image = f"{registry.address}/{unique_name}:pushed"
    cleanup_images.append(image)
    events = Recorder()
    result = await engine.build(BuildRequest(image, context_of(repo), push=True), events)
    assert "pushing" in events.phases
    assert registry.tags(unique_name) == ["pushed"]
    assert result.digest and result.digest == registry.digest(unique_name, "pushed")
    assert events.terminal().extra["digest"] == result.digest


async def test_build_push_and_run(engine, repo, registry: Registry, unique_name, cleanup_images):
    image = f"{registry.address}/{unique_name}:both"
    cleanup_images.append(image)
    events = Recorder()
    try:
        request = BuildRequest(image, context_of(repo), push=True, run=True)
        result = await engine.build(request, events)
        assert result.digest == registry.digest(unique_name, "both")
        assert result.container and result.container.url
        answer = await asyncio.to_thread(requests.get, result.container.url, timeout=10)
        assert answer.status_code == 200
        order = [p for p in ("built", "pushing", "launching", "ready") if p in events.phases]
        assert order == ["built", "pushing", "launching", "ready"]
    finally:
        await stop_containers(engine, events)


async def test_push_and_run_an_existing_image_without_rebuilding(
    engine, registry: Registry, base_image, docker_client, unique_name, cleanup_images
):
    image = f"{registry.address}/{unique_name}:existing"
    build_image(docker_client, httpd_dockerfile(base_image), image)
    cleanup_images.append(image)
    events = Recorder()
    try:
        result = await engine.build(BuildRequest(image, push=True, run=True), events)
        assert "building" not in events.phases and "built" not in events.phases
        assert result.image_id == docker_client.inspect_image(image)["Id"]
        assert result.digest == registry.digest(unique_name, "existing")
        assert result.container and result.container.url
    finally:
        await stop_containers(engine, events)


async def test_push_to_the_password_registry(
    engine, repo, auth_registry: Registry, unique_name, cleanup_images, user_docker_config
):
    image = f"{auth_registry.address}/{unique_name}:secret"
    cleanup_images.append(image)
    before = user_docker_config.snapshot()
    temp_before = _private_configs()

    good = Login(auth_registry.address, auth_registry.username, auth_registry.password)
    events = Recorder()
    result = await engine.build(
        BuildRequest(image, context_of(repo), push=True, credentials=good), events
    )
    assert result.digest == auth_registry.digest(unique_name, "secret")

    wrong = Login(auth_registry.address, auth_registry.username, "not-the-pw-42")
    failing = Recorder()
    with pytest.raises(BuildFailed) as err:
        await engine.build(BuildRequest(image, push=True, credentials=wrong), failing)
    assert "unauthorized" in str(err.value).lower()
    assert failing.terminal().phase == "failed"
    assert "unauthorized" in failing.terminal().message.lower()

    for password, recorder in ((good.password, events), ("not-the-pw-42", failing)):
        assert password not in recorder.text
        assert password not in str(err.value)
    assert user_docker_config.snapshot() == before
    assert user_docker_config.holds(good.password) == []
    assert user_docker_config.helper_calls() == []
    assert _private_configs() == temp_before


async def test_a_failing_run_step_fails_with_its_output(engine, tmp_path, base_image, unique_name):
    repo = make_repo(
        tmp_path / "bad",
        {"Dockerfile": f"FROM {base_image}\nRUN echo about-to-fail && exit 1\n"},
        git=False,
    )
    events = Recorder()
    with pytest.raises(BuildFailed):
        await engine.build(BuildRequest(f"{unique_name}:bad", context_of(repo)), events)
    failed = events.terminal()
    assert failed.phase == "failed"
    assert any("about-to-fail" in e.message for e in events.events), events.text
    # BuildKit: "... did not complete successfully: exit code: 1"; classic builder:
    # "... returned a non-zero code: 1". Either way the failing command is named.
    assert "about-to-fail && exit 1" in failed.message, failed.message
    assert failed.message.endswith(("exit code: 1", "non-zero code: 1")), failed.message


async def test_cancel_mid_build_cleans_up(engine, tmp_path, base_image, unique_name, docker_client):
    marker = uuid.uuid4().hex
    repo = make_repo(
        tmp_path / "slow",
        {"Dockerfile": f"FROM {base_image}\nRUN echo {marker} && sleep 60\n"},
        git=False,
    )
    events = Recorder()
    request = BuildRequest(f"{unique_name}:slow", context_of(repo))
    task = asyncio.ensure_future(engine.build(request, events))
    deadline = time.monotonic() + 60
    while not any(marker in e.message and "echo" not in e.message for e in events.events):
        assert not task.done(), events.text
        assert time.monotonic() < deadline, events.text
        await asyncio.sleep(0.05)

    asked = time.monotonic()
    request.cancel.set()
    with pytest.raises(BuildCancelled):
        await task
    assert events.terminal().phase == "cancelled"
    assert events.times[-1] - asked < 2.0

    # Nothing keeps running: no build process (the CLI names the tag; the step names the
    # marker, where the sandbox shows it), no intermediate container.
    deadline = time.monotonic() + 15
    while (
        _processes_with(marker)
        or _processes_with(f"{unique_name}:slow")
        or _containers_with(docker_client, marker)
    ):
        assert time.monotonic() < deadline, (
            _processes_with(marker),
            _processes_with(f"{unique_name}:slow"),
            _containers_with(docker_client, marker),
        )
        await asyncio.sleep(0.2)


async def test_deprecated_run_and_push_warn_and_work(
    engine, registry: Registry, base_image, docker_client, unique_name, cleanup_images
):
    image = f"{registry.address}/{unique_name}:old-api"
    docker_client.tag(base_image, image)
    cleanup_images.append(image)
    with pytest.warns(DeprecationWarning, match="push"):
        pushed = await engine.push(image)
    assert pushed.digest == registry.digest(unique_name, "old-api")

    served = f"{unique_name}:served"
    build_image(docker_client, httpd_dockerfile(base_image), served)
    cleanup_images.append(served)
    with pytest.warns(DeprecationWarning, match="run"):
        ran = await engine.run(served)
    try:
        assert ran.container and ran.container.url
        answer = await asyncio.to_thread(requests.get, ran.container.url, timeout=10)
        assert answer.status_code == 200
    finally:
        if ran.container:
            await engine.containers.stop(ran.container.id)


async def test_images_inspect_and_remove(engine, repo, unique_name, docker_client):
    image = f"{unique_name}:listed"
    request = BuildRequest(image, context_of(repo), labels={labels.JOB: "job-listed"})
    result = await engine.build(request, Recorder())
    try:
        entry = next(i for i in await engine.images.list() if i["id"] == result.image_id)
        assert entry["tags"] == [image]
        assert entry["r2d"]["job"] == "job-listed"
        assert entry["dangling"] is False and entry["in_use"] is False
        view = await engine.images.inspect(image)
        assert view["config"]["exposed_ports"] == ["8080/tcp"]
        assert view["config"]["cmd"] == ["httpd", "-f", "-p", "8080", "-h", "/www"]
        assert any("built-by-r2d" in layer["created_by"] for layer in view["history"])
        await engine.images.remove(image)
        assert all(i["id"] != result.image_id for i in await engine.images.list())
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            docker_client.remove_image(image, force=True)


async def test_private_base_image_is_pulled_with_the_job_credentials(
    engine, tmp_path, auth_registry: Registry, base_image, docker_client, unique_name
):
    """The same credentials serve pulls during the build (a private FROM)."""
    private = f"{auth_registry.address}/{unique_name}-base:1"
    docker_client.tag(base_image, private)
    creds = Login(auth_registry.address, auth_registry.username, auth_registry.password)
    for chunk in docker_client.push(
        private, stream=True, decode=True, auth_config=creds.auth_config()
    ):
        assert "error" not in chunk, chunk
    docker_client.remove_image(private)
    repo = make_repo(tmp_path / "private", {"Dockerfile": f"FROM {private}\n"}, git=False)
    image = f"{unique_name}:from-private"
    try:
        events = Recorder()
        await engine.build(BuildRequest(image, context_of(repo), credentials=creds), events)
        assert events.terminal().phase == "ready"
        assert creds.password not in events.text
    finally:
        for ref in (image, private):
            with contextlib.suppress(docker.errors.DockerException):
                docker_client.remove_image(ref, force=True)


# --- helpers -------------------------------------------------------------------------------


class UserDockerConfig:
    """A user's docker config with a credential helper that records every call."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "docker-config"
        self.dir.mkdir()
        self.log = root / "helper-calls.log"
        (self.dir / "config.json").write_text(
            json.dumps({"credsStore": "r2dtest", "auths": {}, "detachKeys": "ctrl-q"})
        )
        bin_dir = root / "bin"
        bin_dir.mkdir()
        helper = bin_dir / "docker-credential-r2dtest"
        helper.write_text(f'#!/bin/sh\necho "$@" >> {self.log}\ncat >> {self.log}\nexit 1\n')
        helper.chmod(0o755)
        self.bin = bin_dir

    def snapshot(self) -> bytes:
        """The config file (buildx keeps its own state beside it, which may change)."""
        return (self.dir / "config.json").read_bytes()

    def holds(self, secret: str) -> list[str]:
        """Files under the user's config dir that contain ``secret``."""
        return [str(p) for p in self.dir.rglob("*") if p.is_file() and secret in p.read_text()]

    def helper_calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def user_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UserDockerConfig:
    """Point DOCKER_CONFIG at a user config whose credential store must never be asked."""
    config = UserDockerConfig(tmp_path)
    monkeypatch.setenv("DOCKER_CONFIG", str(config.dir))
    monkeypatch.setenv("PATH", f"{config.bin}{os.pathsep}{os.environ['PATH']}")
    return config


def _private_configs() -> set[str]:
    temp = Path(tempfile.gettempdir())
    # Directly in the temp dir, or in the buildx engine's scratch folder of a build.
    found = [*temp.glob("jupyter-r2d-docker-config-*")]
    found += temp.glob("jupyter-r2d-buildx-*/jupyter-r2d-docker-config-*")
    return {str(p) for p in found}


def _processes_with(marker: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if marker in line and "ps -eo" not in line]


def _containers_with(client: docker.APIClient, marker: str) -> list[str]:
    return [c["Id"] for c in client.containers(all=True) if marker in (c.get("Command") or "")]


async def test_build_from_a_context_tarball(
    engine, tmp_path, base_image, unique_name, cleanup_images
):
    """repo2docker's buildpacks hand the engine a tar of the context (Dockerfile + src/)."""
    tarball = tmp_path / "context.tar"
    with tarfile.open(tarball, "w") as tar:
        for name, text in {
            "Dockerfile": f"FROM {base_image}\nCOPY src/ /srv/\nRUN cat /srv/hello.txt\n",
            "src/hello.txt": f"hello-from-{unique_name}\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    image = f"{unique_name}:tar"
    cleanup_images.append(image)
    events = Recorder()
    await engine.build(BuildRequest(image, BuildContext(tarball=tarball)), events)
    assert events.terminal().phase == "ready"
    assert any(e.message == f"hello-from-{unique_name}" for e in events.events), events.text


async def test_leftovers_of_a_killed_server_are_stopped(
    engine, tmp_path, base_image, docker_client, unique_name
):
    """What a server killed mid-job left running (buildx in its own session, a container
    that never became ready) is stopped when the next server marks the job interrupted."""
    job_id = uuid.uuid4().hex[:12]
    marker = uuid.uuid4().hex
    repo = make_repo(
        tmp_path / "left",
        {"Dockerfile": f"FROM {base_image}\nRUN echo {marker} && sleep 60\n"},
        git=False,
    )
    log = tmp_path / "buildx.log"
    with log.open("wb") as out:
        leftover = subprocess.Popen(  # noqa: ASYNC220 - started and left alone, as a crash would
            ["docker", "buildx", "build", "--progress=plain",
             "--tag", f"{unique_name}:left", str(repo)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, JOB_ENV: job_id},
        )  # fmt: skip
    # The run's container, as a run creates it: named for the job, with the job's labels.
    container = docker_client.create_container(
        base_image,
        command=["sleep", "60"],
        name=f"jupyter-r2d-{job_id}",
        labels={labels.RUN: "true", labels.JOB: job_id},
    )["Id"]
    docker_client.start(container)
    # Someone else's container whose image carries the same labels: not ours to remove.
    lookalike = f"{unique_name}:lookalike"
    build_image(
        docker_client,
        f"FROM {base_image}\nLABEL {labels.RUN}=true {labels.JOB}={job_id}\n",
        lookalike,
    )
    foreign = docker_client.create_container(lookalike, command=["sleep", "60"])["Id"]
    docker_client.start(foreign)
    try:
        deadline = time.monotonic() + 60
        while marker not in log.read_text():
            assert time.monotonic() < deadline and leftover.poll() is None, log.read_text()
            await asyncio.sleep(0.1)
        stopped = await engine.abandon([job_id, "another-job"])
        assert container not in {c["Id"] for c in docker_client.containers(all=True)}
        assert docker_client.inspect_container(foreign)["State"]["Running"]
        if engine.name == "buildx":
            assert stopped == 2
            assert await asyncio.to_thread(leftover.wait, 5) != 0
        else:
            assert stopped == 1
    finally:
        leftover.kill()
        leftover.wait()
        for created in (container, foreign):
            with contextlib.suppress(docker.errors.DockerException):
                docker_client.remove_container(created, force=True)
        with contextlib.suppress(docker.errors.DockerException):
            docker_client.remove_image(lookalike, force=True)


@pytest.mark.parametrize("when", ["before the answer", "mid-stream"])
async def test_a_cancelled_stream_leaves_no_socket_open(
    base_image: str, docker_client: docker.APIClient, unique_name: str, when: str
):
    """A cancel that lands before the daemon answers, or while a chunk is being handled,
    closes every socket: an unclosed one surfaces as a ResourceWarning when collected."""
    engine = DockerApiEngine()
    gate = threading.Event()
    sent = threading.Event()
    handling = threading.Event()

    def start(client: Any) -> Any:
        if when == "before the answer":
            gate.wait(10)  # the cancel has landed; only now is the request sent
        stream = client.events(decode=True)  # a stream that never ends on its own
        sent.set()
        return stream

    def handle(chunk: Any) -> None:
        handling.set()
        gate.wait(10)  # the cancel lands while this chunk is handled

    task = asyncio.ensure_future(engine.daemon.stream(None, start, handle))
    if when == "mid-stream":
        await asyncio.to_thread(sent.wait, 10)
        await asyncio.to_thread(docker_client.tag, base_image, unique_name, "event")
        assert await asyncio.to_thread(handling.wait, 10)
        await asyncio.to_thread(docker_client.remove_image, f"{unique_name}:event")
    else:
        await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.sleep(0.1)
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 15)
    assert sent.is_set()  # the request went out, and its reading thread has ended
    await engine.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_long_lines_are_cut_and_redraws_collapse(
    engine, tmp_path, base_image, unique_name, cleanup_images
):
    """A step that prints a megabyte on one line, then a megabyte of \\r redraws: every
    event is at most MAX_LINE bytes (cut with a mark), a redraw shows its last state, and
    the build succeeds."""
    repo = make_repo(
        tmp_path / "long",
        {
            "Dockerfile": (
                f"FROM {base_image}\n"
                f"RUN echo {unique_name}\n"  # no cache from an earlier run: the steps print
                'RUN printf "%01048576d" 0 | busybox tr 0 x && echo && echo after-long-line\n'
                "RUN seq 1 160000 | busybox tr '\\n' '\\r' && echo done-redraws\n"
                # Small enough for BuildKit's budget of one step (below): whole on both.
                'RUN printf "%0100000d" 0 | busybox tr 0 y && echo'
                " && seq 1 15000 | busybox tr '\\n' '\\r' && echo small-done\n"
            )
        },
        git=False,
    )
    image = f"{unique_name}:long"
    cleanup_images.append(image)
    events = Recorder()
    await engine.build(BuildRequest(image, context_of(repo)), events)
    assert events.terminal().phase == "ready"

    messages = [e.message for e in events.events]
    longest = max(len(m.encode()) for m in messages)
    assert longest <= MAX_LINE + len(cut_mark(10**9)), longest
    assert not [m for m in messages if "\r" in m]
    assert len(messages) < 100, len(messages)  # one event a line, not one a redraw
    assert "y" * MAX_LINE + cut_mark(100_000 - MAX_LINE) in messages
    assert "small-done" in messages
    cut_x = [m for m in messages if m.startswith("x" * MAX_LINE + " [… ")]
    assert len(cut_x) == 1, [m[-60:] for m in messages]
    if engine.name == "docker-api":
        # The daemon sends the megabyte in pieces: they still make one line.
        assert cut_x == ["x" * MAX_LINE + cut_mark(1024 * 1024 - MAX_LINE)]
        assert "after-long-line" in messages and "done-redraws" in messages
    else:
        # BuildKit passes a step ~200 KiB at once, then clips its output (200 KiB/s, 2 MiB
        # in all, BUILDKIT_STEP_LOG_MAX_SPEED/_SIZE of the daemon): that line is shorter,
        # and a notice says where output was dropped.
        notices = [e for e in events.events if e.to_dict().get("notice") == "log_limit"]
        assert notices and "BuildKit dropped output" in notices[0].message, messages


@contextlib.contextmanager
def http_listener() -> Iterator[tuple[int, list[bytes]]]:
    """A local HTTP listener that records every request it gets (and answers 200)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    requests_seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    requests_seen.append(conn.recv(4096))
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], requests_seen
    finally:
        stop.set()
        thread.join(5)
        server.close()


async def test_the_readiness_probe_does_not_follow_a_redirect(
    engine, tmp_path, base_image, unique_name, cleanup_images
):
    """A container answering 302 to another address has answered: the server does not
    fetch the address it names."""
    with http_listener() as (port, seen):
        script = (
            "#!/bin/sh\n"
            f'printf "HTTP/1.1 302 Found\\r\\nLocation: http://127.0.0.1:{port}/\\r\\n'
            'Content-Length: 0\\r\\n\\r\\n"\n'
        )
        repo = make_repo(
            tmp_path / "redirect",
            {
                # busybox httpd runs cgi-bin/index.cgi for "/" when there is no index.html.
                "Dockerfile": (
                    f"FROM {base_image}\n"
                    "COPY index.cgi /www/cgi-bin/index.cgi\n"
                    "RUN chmod +x /www/cgi-bin/index.cgi && rm -f /www/index.html\n"
                    "EXPOSE 8080\n"
                    'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
                ),
                "index.cgi": script,
            },
            git=False,
        )
        image = f"{unique_name}:redirect"
        cleanup_images.append(image)
        events = Recorder()
        try:
            result = await engine.build(BuildRequest(image, context_of(repo), run=True), events)
            assert result.container is not None and result.container.url
            answer = await asyncio.to_thread(
                requests.get, result.container.url, timeout=10, allow_redirects=False
            )
            assert answer.status_code == 302
            assert answer.headers["Location"] == f"http://127.0.0.1:{port}/"
            await asyncio.sleep(0.3)  # a request the probe made would have landed by now
            assert seen == []
        finally:
            await stop_containers(engine, events)


async def test_the_last_words_of_a_container_that_exits_are_capped(
    engine, tmp_path, base_image, unique_name, cleanup_images
):
    """A run whose container prints a megabyte on one line and exits before its URL answers
    fails with its last lines, each cut to MAX_LINE."""
    repo = make_repo(
        tmp_path / "exits",
        {
            "Dockerfile": (
                f"FROM {base_image}\n"
                "EXPOSE 8080\n"
                'CMD ["sh", "-c", "printf %01048576d 0 | busybox tr 0 q; echo; echo bye; exit 3"]\n'
            )
        },
        git=False,
    )
    image = f"{unique_name}:exits"
    cleanup_images.append(image)
    events = Recorder()
    with pytest.raises(BuildFailed) as err:
        await engine.build(BuildRequest(image, context_of(repo), run=True), events)
    message = str(err.value)
    assert message.startswith("The container exited with code 3 before its URL answered:")
    lines = message.split("\n")[1:]
    assert lines[-1] == "bye"
    assert all(len(line.encode()) <= MAX_LINE + len(cut_mark(10**9)) for line in lines)
    assert lines[-2].startswith("q" * MAX_LINE) and lines[-2].endswith(" more bytes cut]")
    assert len(events.terminal().message.encode()) < 21 * (MAX_LINE + 64)
