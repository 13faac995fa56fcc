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
from dockerimages import build_image
from gitservers import publish

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
    """Build a folder; the job's record once final (after-build work included)."""
    body = {"source": {"path": path}, "image": image, **options}
    job = await call(jp_fetch, "builds", method="POST", body=body)
    return await finished(jp_fetch, job["id"])


async def finished(jp_fetch, job_id: str) -> dict[str, Any]:
    """The job's record once it is final: the removal of a superseded image comes first."""
    deadline = asyncio.get_running_loop().time() + 180
    while True:
        record = await call(jp_fetch, "builds", job_id)
        if record["finished"] is not None:
            return dict(record)
        assert asyncio.get_running_loop().time() < deadline, record
        await asyncio.sleep(0.1)


def project(root: Path, base_image: str, step: str) -> tuple[str, Path]:
    """A Dockerfile project under a unique folder name (its source label is ours alone)."""
    name = f"proj-{uuid.uuid4().hex[:8]}"
    dockerfile = (
        f'FROM {base_image}\nCOPY . /src/\nRUN echo {step} > /step.txt\nCMD ["cat", "/step.txt"]\n'
    )
    return name, make_repo(root / name, {"Dockerfile": dockerfile, "data/notes.txt": "hi\n"})


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


async def test_unchanged_rebuilds_give_one_image_and_nothing_dangling(
    jp_fetch, jp_root_dir: Path, base_image, unique_name, docker_client, remove_afterwards
):
    folder, _ = project(jp_root_dir, base_image, uuid.uuid4().hex)
    image = f"{unique_name}:same"
    records = []
    for _ in range(3):
        record = await build(jp_fetch, folder, image)
        assert record["status"] == "succeeded", record
        remove_afterwards["images"].append(record["image_id"])
        records.append(record)
    assert len({r["image_id"] for r in records}) == 1, [r["image_id"] for r in records]
    assert ours_dangling(docker_client, folder) == set()
    # The job is in the record and on the inspect view, not in the image.
    view = await call(jp_fetch, "images", image)
    assert labels.JOB not in view["labels"]
    assert view["r2d"]["source"] == folder
    assert view["r2d"]["job"] == records[-1]["id"]
    listed = {i["id"]: i for i in (await call(jp_fetch, "images"))["images"]}
    assert listed[records[0]["image_id"]]["r2d"]["source"] == folder


async def test_unchanged_rebuilds_of_a_git_source_give_one_image(
    jp_fetch, tmp_path: Path, git_server, base_image, unique_name, docker_client,
    remove_afterwards,
):  # fmt: skip
    """Each build clones afresh (new file times): the image is the same all the same."""
    _, work = project(tmp_path, base_image, uuid.uuid4().hex)
    publish(work, git_server.base, "same.git")
    image = f"{unique_name}:git"
    ids = []
    for _ in range(3):
        body = {"source": {"url": git_server.url("same.git")}, "image": image}
        job = await call(jp_fetch, "builds", method="POST", body=body)
        record = await finished(jp_fetch, job["id"])
        assert record["status"] == "succeeded", record
        remove_afterwards["images"].append(record["image_id"])
        ids.append(record["image_id"])
        await asyncio.sleep(1.1)  # a second later: any file time taken from the clock differs
    assert len(set(ids)) == 1, ids


async def test_a_changed_rebuild_removes_the_image_it_superseded(
    jp_fetch, jp_root_dir: Path, base_image, unique_name, docker_client, remove_afterwards
):
    folder, repo = project(jp_root_dir, base_image, "one")
    image = f"{unique_name}:moved"
    first = await build(jp_fetch, folder, image)
    remove_afterwards["images"].append(first["image_id"])
    (repo / "Dockerfile").write_text((repo / "Dockerfile").read_text().replace("one", "two"))
    second = await build(jp_fetch, folder, image)
    remove_afterwards["images"].append(second["image_id"])
    assert second["status"] == "succeeded" and second["image_id"] != first["image_id"]
    ids = image_ids(docker_client)
    assert first["image_id"] not in ids
    assert second["image_id"] in ids
    assert ours_dangling(docker_client, folder) == set()


async def test_a_superseded_image_in_use_or_still_tagged_is_kept(
    jp_fetch, jp_root_dir: Path, base_image, unique_name, docker_client, remove_afterwards
):
    folder, repo = project(jp_root_dir, base_image, "one")
    image = f"{unique_name}:moved"
    # One old image has a container (not even started), the other still has a tag.
    used = await build(jp_fetch, folder, image)
    remove_afterwards["images"].append(used["image_id"])
    container = docker_client.create_container(used["image_id"], command=["true"])["Id"]
    remove_afterwards["containers"].append(container)
    (repo / "Dockerfile").write_text((repo / "Dockerfile").read_text().replace("one", "two"))
    tagged = await build(jp_fetch, folder, image)
    remove_afterwards["images"].append(tagged["image_id"])
    docker_client.tag(tagged["image_id"], unique_name, "kept")
    remove_afterwards["images"].append(f"{unique_name}:kept")
    (repo / "Dockerfile").write_text((repo / "Dockerfile").read_text().replace("two", "three"))
    latest = await build(jp_fetch, folder, image)
    remove_afterwards["images"].append(latest["image_id"])
    assert len({used["image_id"], tagged["image_id"], latest["image_id"]}) == 3
    ids = image_ids(docker_client)
    assert {used["image_id"], tagged["image_id"], latest["image_id"]} <= ids


class TestSettingOff:
    @pytest.fixture(params=ENGINES)
    def jp_server_config(self, request: pytest.FixtureRequest) -> dict[str, Any]:
        return server_config(request.param, remove_superseded_images=False)

    async def test_the_superseded_image_stays(
        self, jp_fetch, jp_root_dir, base_image, unique_name, docker_client, remove_afterwards
    ):
        folder, repo = project(jp_root_dir, base_image, "one")
        image = f"{unique_name}:moved"
        first = await build(jp_fetch, folder, image)
        remove_afterwards["images"].append(first["image_id"])
        (repo / "Dockerfile").write_text((repo / "Dockerfile").read_text().replace("one", "two"))
        second = await build(jp_fetch, folder, image)
        remove_afterwards["images"].append(second["image_id"])
        assert second["image_id"] != first["image_id"]
        assert ours_dangling(docker_client, folder) == {first["image_id"]}


# --- disk figures -------------------------------------------------------------------------


def raw_df(client: docker.APIClient) -> dict[str, Any]:
    return dict(client.df())


async def test_disk_figures_count_shared_layers_once(
    jp_fetch, base_image, unique_name, docker_client, remove_afterwards
):
    """Two images on one base: "on disk" is what `docker system df` says, and a prune's
    figure is what removing the images frees (their own layers, not the shared base)."""
    made = []
    for n in range(2):
        ref = f"{unique_name}:share{n}"
        # Labelled as older builds of ours were, then untagged: dangling, for the prune plan.
        build_image(
            docker_client,
            f"FROM {base_image}\nLABEL {labels.JOB}=0123456789ab\n"
            f"RUN head -c {(n + 1) * 300_000} /dev/urandom > /blob\n",
            ref,
        )
        made.append(str(docker_client.inspect_image(ref)["Id"]))
        remove_afterwards["images"].append(made[-1])
        # The tag moves to the base image: ours is left dangling.
        docker_client.tag(base_image, ref)
        docker_client.remove_image(ref)
    # Other tests build at the same time: take the figure between two equal readings.
    for _ in range(20):
        before = raw_df(docker_client)
        answer = await call(jp_fetch, "images")
        after = raw_df(docker_client)
        if before["LayersSize"] == after["LayersSize"]:
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail("the daemon's figures never held still")
    total = after["LayersSize"]
    naive = sum(i["size"] for i in answer["images"])
    assert naive > total  # shared layers: a plain sum counts the base several times
    assert abs(answer["disk"]["size"] - total) <= 0.01 * total, (answer["disk"], total)

    unique = {i["Id"]: i["Size"] - i["SharedSize"] for i in after["Images"]}
    listed = {i["id"]: i for i in answer["images"]}
    for image_id in made:
        assert listed[image_id]["unique_size"] == unique[image_id]
        assert listed[image_id]["shared_size"] > 0
    plan = await call(jp_fetch, "images", "prune", method="POST", params={"dry_run": "true"})
    entries = {e["id"]: e for e in plan["removed"]}
    for image_id in made:
        assert entries[image_id]["size"] == unique[image_id]
        assert entries[image_id]["size"] < listed[image_id]["size"]
    assert plan["space_reclaimed"] == sum(e["size"] for e in plan["removed"])


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
