"""Shared fixtures: the real Docker engine, the test bed's registries, scratch repos, and a
Jupyter server with the extension and authentication required on every endpoint.

Outside CI a missing part skips the tests that need it; with CI=true it fails them.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests

pytest_plugins = ["pytest_jupyter.jupyter_server"]

IN_CI = os.environ.get("CI", "").lower() == "true"
TESTBED_DIR = Path(os.environ.get("R2D_TESTBED_DIR", "/var/lib/r2d-testbed"))


def require(ok: bool, what: str) -> None:
    """Fail (in CI) or skip (elsewhere) when a real part of the test bed is missing."""
    if ok:
        return
    message = f"{what} is missing: run `sudo scripts/testbed` first"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Registry:
    """A local registry of the test bed; ``username``/``password`` empty when open."""

    address: str
    username: str = ""
    password: str = ""

    def tags(self, repository: str) -> list[str]:
        """Tags the registry lists for a repository (empty when unknown)."""
        auth = (self.username, self.password) if self.username else None
        r = requests.get(f"http://{self.address}/v2/{repository}/tags/list", auth=auth, timeout=10)
        if r.status_code == 404:
            return []
        r.raise_for_status()
        return r.json().get("tags") or []

    def digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest the registry holds for repository:tag."""
        auth = (self.username, self.password) if self.username else None
        r = requests.head(
            f"http://{self.address}/v2/{repository}/manifests/{tag}",
            auth=auth,
            timeout=10,
            headers={
                "Accept": ", ".join(
                    [
                        "application/vnd.docker.distribution.manifest.v2+json",
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.oci.image.index.v1+json",
                    ]
                )
            },
        )
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.headers.get("Docker-Content-Digest")


@pytest.fixture(scope="session")
def testbed() -> dict[str, str]:
    """The test bed's facts (scripts/testbed writes them)."""
    env_file = TESTBED_DIR / "testbed.env"
    require(env_file.is_file(), f"test bed description {env_file}")
    values: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.APIClient]:
    """A docker-py client of the real daemon."""
    try:
        client = docker.APIClient(version="auto", timeout=120)
        client.ping()
    except docker.errors.DockerException as err:
        require(False, f"Docker engine ({err})")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(testbed: dict[str, str], docker_client: docker.APIClient) -> str:
    """A tiny local busybox image to build FROM (no registry can be pulled from)."""
    name = testbed["R2D_TEST_BASE_IMAGE"]
    try:
        docker_client.inspect_image(name)
    except docker.errors.ImageNotFound:
        require(False, f"base image {name}")
    return name


def _registry_answers(address: str) -> bool:
    try:
        return requests.get(f"http://{address}/v2/", timeout=5).status_code in (200, 401)
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def registry(testbed: dict[str, str]) -> Registry:
    """The open local registry."""
    address = testbed["R2D_TEST_REGISTRY"]
    require(_registry_answers(address), f"registry at {address}")
    return Registry(address)


@pytest.fixture(scope="session")
def auth_registry(testbed: dict[str, str]) -> Registry:
    """The password-protected local registry, with the test credentials."""
    address = testbed["R2D_TEST_AUTH_REGISTRY"]
    require(_registry_answers(address), f"registry at {address}")
    password = Path(testbed["R2D_TEST_AUTH_PASSWORD_FILE"]).read_text().strip()
    return Registry(address, testbed["R2D_TEST_AUTH_USER"], password)


@pytest.fixture
def unique_name() -> str:
    """A fresh image repository name, so parallel runs never clash."""
    return f"r2d-test/t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup_images(docker_client: docker.APIClient) -> Iterator[list[str]]:
    """Append image references to this list; they are removed after the test."""
    refs: list[str] = []
    yield refs
    for ref in refs:
        with contextlib.suppress(docker.errors.DockerException):
            docker_client.remove_image(ref, force=True)


def make_repo(path: Path, files: dict[str, str], git: bool = True) -> Path:
    """Write ``files`` under ``path`` and, with ``git``, commit them in a fresh repository."""
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    if git:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
        }
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
            subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return path


def httpd_dockerfile(base: str, extra: str = "") -> str:
    """A Dockerfile whose image serves /www on port 8080 with busybox httpd."""
    return (
        f"FROM {base}\n"
        f"{extra}"
        "RUN echo built-by-r2d > /www/built.txt\n"
        "EXPOSE 8080\n"
        'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
    )


@pytest.fixture
def dockerfile_repo(tmp_path: Path, base_image: str) -> Path:
    """A committed git repo holding a Dockerfile that builds FROM the base image."""
    return make_repo(tmp_path / "dockerfile-repo", {"Dockerfile": httpd_dockerfile(base_image)})


@pytest.fixture
def jp_server_config() -> dict[str, object]:
    """Load only our extension; pytest-jupyter's server requires a token on every call."""
    return {"ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}}}


# --- API helpers (jobs and event streams) -------------------------------------------------


class StreamStopped(Exception):
    """Raised inside a streaming callback to drop an SSE connection on purpose."""


def parse_sse(text: str) -> tuple[list[dict[str, object]], list[str], str]:
    """Complete SSE messages in ``text``: (events, comments, rest not yet complete).

    Each event's ``id:`` line must match its data's ``seq`` (checked here, for every test).
    """
    import json

    events: list[dict[str, object]] = []
    comments: list[str] = []
    *messages, rest = text.split("\n\n")
    for message in messages:
        event_id = None
        for line in message.split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
            elif line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["seq"] == event_id, (event_id, data)
                events.append(data)
    return events, comments, rest


@pytest.fixture
def read_events(jp_fetch):
    """``await read_events(job_id, last_event_id=None, stop_after=None)`` -> events.

    Follows ``GET r2d/api/builds/<id>/events`` until the server closes it, or drops the
    connection after ``stop_after`` events (a client that leaves mid-build).
    """

    async def read(
        job_id: str,
        last_event_id: int | None = None,
        stop_after: int | None = None,
        params: dict[str, object] | None = None,
    ) -> list[dict[str, object]]:
        received: list[dict[str, object]] = []
        buffer = [""]

        def on_chunk(chunk: bytes) -> None:
            events, _, buffer[0] = parse_sse(buffer[0] + chunk.decode())
            for event in events:
                received.append(event)
                if stop_after is not None and len(received) >= stop_after:
                    raise StreamStopped

        headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
        try:
            response = await jp_fetch(
                "r2d",
                "api",
                "builds",
                job_id,
                "events",
                headers=headers,
                params=params or {},
                streaming_callback=on_chunk,
                request_timeout=240,
            )
        except StreamStopped:
            return received
        except Exception:
            if stop_after is not None and len(received) >= stop_after:
                return received
            raise
        assert response.headers["Content-Type"].startswith("text/event-stream")
        return received

    return read


# --- sources: a local git daemon ----------------------------------------------------------


@dataclass(frozen=True)
class GitServer:
    """A ``git daemon`` on 127.0.0.1 exporting every repository under ``base``."""

    base: Path
    port: int

    def url(self, name: str) -> str:
        """The git:// URL of repository ``name`` under ``base``."""
        return f"git://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitServer]:
    """Start ``git daemon`` on a free port; it is stopped after the test."""
    import socket
    import time

    base = tmp_path / "git-served"
    base.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["git", "daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1",
         f"--port={port}", f"--base-path={base}", str(base)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("git daemon did not start", pytrace=False)
            time.sleep(0.05)
        yield GitServer(base, port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def _stop_renderer() -> Iterator[None]:
    """Stop repo2docker's worker process before the interpreter exits."""
    yield
    from jupyter_r2d.render import shutdown_renderer

    shutdown_renderer()


@pytest.fixture(scope="session", autouse=True)
def _freeze_imports() -> None:
    """Keep what the imports made out of every later collection (which stays cheap)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _collect_leaks() -> Iterator[None]:
    """Collect garbage after each test, so an unclosed socket or file fails the test that
    leaked it (warnings are errors) rather than whichever test runs when the GC happens to."""
    yield
    gc.collect()
