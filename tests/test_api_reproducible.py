"""Same image when nothing changed, superseded images removed, true disk figures, and a run
that exits before it is ready: through the HTTP API, with both engines, on the real daemon."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest
from conftest import make_repo

from jupyter_r2d import labels

pytestmark = [pytest.mark.docker]

ENGINES = ["buildx", "docker-api"]


def server_config(engine: str, **r2d: Any) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
        "JupyterR2D": {"engine_kind": engine, **r2d},
    }


@pytest.fixture(params=ENGINES)
def jp_server_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return server_config(request.param)


async def call(jp_fetch, *parts: str, method: str = "GET", body: Any = None, **kw: Any) -> Any:
    if method == "POST" and body is None:
        body = b""
    elif body is not None and not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    response = await jp_fetch("r2d", "api", *parts, method=method, body=body, **kw)
    return json.loads(response.body) if response.body else None


async def build(jp_fetch, path: str, image: str, **options: Any) -> dict[str, Any]:
    """Start a build and wait until its record is final (after-build work included)."""
    body = {"source": {"path": path}, "image": image, **options}
    job = await call(jp_fetch, "builds", method="POST", body=body)
    deadline = asyncio.get_running_loop().time() + 180
    while True:
        record = await call(jp_fetch, "builds", job["id"])
        if record["finished"] is not None:
            return dict(record)
        assert asyncio.get_running_loop().time() < deadline, record
        await asyncio.sleep(0.1)


def project(root: Path, base_image: str, step: str) -> tuple[str, Path]:
    """A Dockerfile project under a unique folder name (its source label is ours alone)."""
    name = f"proj-{uuid.uuid4().hex[:8]}"
    dockerfile = f'FROM {base_image}\nRUN echo {step} > /step.txt\nCMD ["cat", "/step.txt"]\n'
    return name, make_repo(root / name, {"Dockerfile": dockerfile})


def ours_dangling(client: docker.APIClient, folder: str) -> set[str]:
    """Dangling images built from this folder."""
    found = client.images(filters={"dangling": True, "label": f"{labels.SOURCE}={folder}"})
    return {str(i["Id"]) for i in found}


def image_ids(client: docker.APIClient) -> set[str]:
    return {str(i["Id"]) for i in client.images(all=True)}


@pytest.fixture
def remove_afterwards(docker_client: docker.APIClient):
    """Image ids and containers to remove after the test (only what the test made)."""
    made: dict[str, list[str]] = {"images": [], "containers": []}
    yield made
    for container in made["containers"]:
        with contextlib.suppress(docker.errors.DockerException):
            docker_client.remove_container(container, force=True)
    for image in made["images"]:
        with contextlib.suppress(docker.errors.DockerException):
            docker_client.remove_image(image, force=True)


# --- a run that exits ---------------------------------------------------------------------


async def test_a_run_that_exits_at_once_fails_with_its_code_and_output(
    jp_fetch, read_events, jp_root_dir: Path, base_image, unique_name, docker_client,
    remove_afterwards,
):  # fmt: skip
    folder = f"exits-{uuid.uuid4().hex[:8]}"
    make_repo(
        jp_root_dir / folder,
        {"Dockerfile": f'FROM {base_image}\nCMD ["sh", "-c", "echo bye; exit 3"]\n'},
    )
    image = f"{unique_name}:exits"
    remove_afterwards["images"].append(image)
    job = await call(
        jp_fetch, "builds", method="POST", body={"source": {"path": folder}, "image": image,
                                                 "run": True}
    )  # fmt: skip
    events = await read_events(job["id"])
    record = await call(jp_fetch, "builds", job["id"])
    if record["container"]:
        remove_afterwards["containers"].append(record["container"]["id"])
    phases = [e["phase"] for e in events]
    assert phases[-1] == "failed", events[-1]
    assert "ready" not in phases
    error = str(events[-1]["error"])
    assert "exited with code 3" in error and error.endswith("bye"), error
    assert record["status"] == "failed" and record["container"] is None
    names = {
        n.lstrip("/") for c in docker_client.containers(all=True) for n in c.get("Names") or []
    }
    assert f"jupyter-r2d-{job['id']}" not in names
