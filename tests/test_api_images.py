"""Images and containers through the HTTP API, against the real daemon."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conftest import httpd_dockerfile, make_repo, parse_sse
from dockerimages import build_image
from tornado.httpclient import HTTPClientError

from jupyter_r2d import labels

pytestmark = [pytest.mark.docker]


async def get_json(jp_fetch, *parts: str, **kwargs):
    response = await jp_fetch("r2d", "api", *parts, **kwargs)
    return json.loads(response.body)


async def test_list_and_filter_images(jp_fetch, base_image):
    images = (await get_json(jp_fetch, "images"))["images"]
    base = [i for i in images if base_image in i["tags"]]
    assert len(base) == 1
    entry = base[0]
    assert {"id", "tags", "created", "size", "labels", "r2d", "dangling", "in_use"} <= set(entry)
    assert entry["size"] > 0
    assert entry["dangling"] is False
    filtered = (await get_json(jp_fetch, "images", params={"q": "R2D-TEST/BASE"}))["images"]
    assert [i["id"] for i in filtered] == [entry["id"]]
    nothing = await get_json(jp_fetch, "images", params={"q": "no-such-image-anywhere"})
    assert nothing["images"] == []
    assert nothing["disk"]["size"] > 0  # all images, whatever the filter


async def test_inspect_by_name_and_id(jp_fetch, base_image):
    by_name = await get_json(jp_fetch, "images", base_image)
    assert by_name["id"].startswith("sha256:")
    assert "config" in by_name or "cmd" in json.dumps(by_name).lower()
    by_id = await get_json(jp_fetch, "images", by_name["id"])
    assert by_id["id"] == by_name["id"]


async def test_delete_an_image(jp_fetch, docker_client, base_image, unique_name, cleanup_images):
    ref = f"{unique_name}:gone"
    docker_client.tag(base_image, ref)
    cleanup_images.append(ref)
    response = await jp_fetch("r2d", "api", "images", ref, method="DELETE")
    assert response.code == 204
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("r2d", "api", "images", ref)
    assert err.value.code == 404
    # The base image it was tagged from is still there.
    assert (await get_json(jp_fetch, "images", base_image))["id"]


async def _build(jp_fetch, path: str, image: str) -> dict:
    response = await jp_fetch(
        "r2d",
        "api",
        "builds",
        method="POST",
        body=json.dumps({"source": {"path": path}, "image": image}),
    )
    job_id = json.loads(response.body)["id"]
    response = await jp_fetch("r2d", "api", "builds", job_id, "events", request_timeout=240)
    events, _, _ = parse_sse(response.body.decode())
    assert events[-1]["phase"] == "ready", events[-1]
    # What comes after the build (the superseded image's removal) ends before "finished".
    for _ in range(300):
        record = await get_json(jp_fetch, "builds", job_id)
        if record["finished"] is not None:
            return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never finished")


async def test_labels_and_prune(
    jp_fetch, jp_root_dir: Path, base_image, unique_name, cleanup_images, docker_client
):
    """Two builds of one tag leave the first image dangling (a container kept it from
    being removed as superseded); prune removes only ours."""
    image = f"{unique_name}:twice"
    cleanup_images.append(image)
    repo = make_repo(
        jp_root_dir / "twice", {"Dockerfile": httpd_dockerfile(base_image, "RUN echo one\n")}
    )
    first = await _build(jp_fetch, "twice", image)
    cleanup_images.append(first["image_id"])
    container = docker_client.create_container(first["image_id"], command=["true"])["Id"]
    (repo / "Dockerfile").write_text(httpd_dockerfile(base_image, "RUN echo two\n"))
    try:
        second = await _build(jp_fetch, "twice", image)
    finally:
        docker_client.remove_container(container, force=True)
    assert first["image_id"] != second["image_id"]

    images = (await get_json(jp_fetch, "images"))["images"]
    by_id = {i["id"]: i for i in images}
    assert by_id[second["image_id"]]["r2d"]["job"] == second["id"]
    assert by_id[second["image_id"]]["r2d"]["dirty"] is True
    assert by_id[first["image_id"]]["dangling"] is True
    view = await get_json(jp_fetch, "images", image)
    # The folder's changes were not committed: no --ref, and the folder by its full path.
    assert view["reproduce"] == (
        f"repo2docker --no-run --image-name={image} -- {(jp_root_dir / 'twice').resolve()}"
    )

    response = await jp_fetch("r2d", "api", "images", "prune", method="POST", body="")
    pruned = json.loads(response.body)
    assert first["image_id"] in json.dumps(pruned["removed"])
    assert isinstance(pruned["space_reclaimed"], int)
    ids = {i["id"] for i in (await get_json(jp_fetch, "images"))["images"]}
    assert first["image_id"] not in ids
    assert second["image_id"] in ids


async def test_an_image_named_prune_is_still_an_image(jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("r2d", "api", "images", "prune")
    assert err.value.code == 404


async def test_containers_list(jp_fetch):
    listing = await get_json(jp_fetch, "containers")
    assert isinstance(listing["containers"], list)
    await asyncio.sleep(0)


async def test_a_container_labelled_like_ours_is_not_ours(
    jp_fetch, docker_client, base_image, unique_name, cleanup_images
):
    """Any image can carry jupyter_r2d's labels, and its containers inherit them: one that
    this server did not start is neither listed nor stoppable."""
    image = f"{unique_name}:lookalike"
    build_image(
        docker_client,
        f"FROM {base_image}\n"
        f"LABEL {labels.RUN}=true {labels.JOB}=0123456789ab {labels.PORT}=8080\n",
        image,
    )
    cleanup_images.append(image)
    container = docker_client.create_container(image, command=["sleep", "60"])["Id"]
    docker_client.start(container)
    try:
        listing = await get_json(jp_fetch, "containers")
        assert container not in {c["id"] for c in listing["containers"]}
        for ref in (container, container[:12]):
            with pytest.raises(HTTPClientError) as err:
                await jp_fetch("r2d", "api", "containers", ref, method="DELETE")
            assert err.value.code == 404
            assert "started by jupyter_r2d" in json.loads(err.value.response.body)["message"]
        assert docker_client.inspect_container(container)["State"]["Running"]
    finally:
        docker_client.remove_container(container, force=True)
