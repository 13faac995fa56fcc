"""Build jobs end to end through the HTTP API, against the real daemon and registries."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import httpd_dockerfile, make_repo, parse_sse
from tornado.httpclient import HTTPClientError

from jupyter_r2d.app import BUILD_EVENTS
from jupyter_r2d.jobs import JobManager

pytestmark = [pytest.mark.docker]

TERMINAL = {"ready", "failed", "cancelled"}


async def call(jp_fetch, *parts: str, method: str = "GET", body: Any = None, **kw: Any) -> Any:
    """A JSON call; returns (code, parsed body or None, response)."""
    kwargs: dict[str, Any] = {"method": method, **kw}
    if body is not None:
        kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
    elif method in ("POST",):
        kwargs["body"] = b""
    response = await jp_fetch("r2d", "api", *parts, **kwargs)
    data = json.loads(response.body) if response.body else None
    return response.code, data, response


async def wait_finished(jp_fetch, job_id: str, timeout: float = 180) -> dict[str, Any]:
    """Poll the record until the job leaves queued/running."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        _, record, _ = await call(jp_fetch, "builds", job_id)
        if record["status"] not in ("queued", "running"):
            return record
        assert asyncio.get_running_loop().time() < deadline, record
        await asyncio.sleep(0.2)


@pytest.fixture
def folder_repo(jp_root_dir: Path, base_image: str) -> Path:
    """A Dockerfile project inside the server root, with log lines worth streaming."""
    extra = "RUN seq 1 30\n"
    return make_repo(jp_root_dir / "proj", {"Dockerfile": httpd_dockerfile(base_image, extra)})


async def test_build_run_push_followed_by_two_clients(
    jp_fetch, read_events, folder_repo, registry, unique_name, cleanup_images, docker_client
):
    image = f"{registry.address}/{unique_name}:v1"
    cleanup_images.append(image)
    body = {"source": {"path": "proj"}, "image": image, "run": True, "push": True}
    code, record, response = await call(jp_fetch, "builds", method="POST", body=body)
    assert code == 202
    job_id = record["id"]
    assert response.headers["Location"].endswith(f"/r2d/api/builds/{job_id}")
    assert record["status"] in ("queued", "running")
    assert record["source"] == {"path": "proj"}
    assert record["image"] == image

    # Two clients follow live; a third leaves after a few events and resumes.
    first, second, partial = await asyncio.gather(
        read_events(job_id), read_events(job_id), read_events(job_id, stop_after=3)
    )
    assert first == second
    seqs = [e["seq"] for e in first]
    assert seqs == list(range(1, len(first) + 1))
    phases = [e["phase"] for e in first]
    assert phases[0] == "waiting"
    assert "fetching" in phases and "building" in phases and "pushing" in phases
    assert "launching" in phases
    assert phases[-1] == "ready", first[-1]
    assert [p for p in phases if p in TERMINAL] == ["ready"]
    assert any(e["message"].strip().endswith("30") for e in first if e["phase"] == "building")
    ready = first[-1]
    assert ready["image"] == image
    assert ready["digest"].startswith("sha256:")
    assert ready["url"]

    rest = await read_events(job_id, last_event_id=partial[-1]["seq"])
    assert partial + rest == first
    assert await read_events(job_id, params={"after": 5}) == first[5:]

    record = await wait_finished(jp_fetch, job_id)
    assert record["status"] == "succeeded"
    assert record["phase"] == "ready"
    assert record["digest"] == ready["digest"]
    assert record["image_id"]
    assert record["container"]["url"] == ready["url"]
    assert registry.digest(unique_name, "v1") == record["digest"]
    answer = await asyncio.to_thread(requests.get, ready["url"], timeout=10)
    assert answer.status_code < 500

    _, listing, _ = await call(jp_fetch, "builds")
    assert listing["builds"][0]["id"] == job_id

    # The run shows in containers; the image it uses cannot be removed while it runs.
    _, containers, _ = await call(jp_fetch, "containers")
    mine = [c for c in containers["containers"] if c["id"] == record["container"]["id"]]
    assert mine and mine[0]["job_id"] == job_id and mine[0]["url"] == ready["url"]
    with pytest.raises(HTTPClientError) as err:
        await call(jp_fetch, "images", image, method="DELETE")
    assert err.value.code == 409
    # By its short id, as `docker ps` shows it.
    code, _, _ = await call(jp_fetch, "containers", record["container"]["id"][:12], method="DELETE")
    assert code == 204
    with pytest.raises(HTTPClientError) as err:
        await call(jp_fetch, "containers", record["container"]["id"], method="DELETE")
    assert err.value.code == 404

    # Finished: cancel is a conflict, delete forgets it.
    with pytest.raises(HTTPClientError) as err:
        await call(jp_fetch, "builds", job_id, "cancel", method="POST")
    assert err.value.code == 409
    code, _, _ = await call(jp_fetch, "builds", job_id, method="DELETE")
    assert code == 204
    for parts in (("builds", job_id), ("builds", job_id, "events")):
        with pytest.raises(HTTPClientError) as err:
            await call(jp_fetch, *parts)
        assert err.value.code == 404


@pytest.fixture
def slow_repo(jp_root_dir: Path, base_image: str) -> Path:
    extra = "RUN echo starting && sleep 120\n"
    return make_repo(jp_root_dir / "slow", {"Dockerfile": httpd_dockerfile(base_image, extra)})


async def _wait_phase(jp_fetch, job_id: str, phase: str) -> None:
    for _ in range(600):
        _, record, _ = await call(jp_fetch, "builds", job_id)
        if record["phase"] == phase:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job never reached {phase}")


async def test_cancel_a_running_build(
    jp_fetch, read_events, slow_repo, unique_name, cleanup_images
):
    image = f"{unique_name}:slow"
    cleanup_images.append(image)
    _, record, _ = await call(
        jp_fetch, "builds", method="POST", body={"source": {"path": "slow"}, "image": image}
    )
    job_id = record["id"]
    await _wait_phase(jp_fetch, job_id, "building")
    with pytest.raises(HTTPClientError) as err:
        await call(jp_fetch, "builds", job_id, method="DELETE")
    assert err.value.code == 409
    code, _, _ = await call(jp_fetch, "builds", job_id, "cancel", method="POST")
    assert code == 202
    events = await read_events(job_id)
    assert events[-1]["phase"] == "cancelled"
    record = await wait_finished(jp_fetch, job_id, timeout=60)
    assert record["status"] == "cancelled"


async def test_restart_mid_job_interrupts_it_and_logs_survive(
    jp_fetch,
    jp_serverapp,
    read_events,
    folder_repo,
    slow_repo,
    unique_name,
    cleanup_images,
    monkeypatch,
):
    """A server that dies mid-build: a second manager on the same data directory (what a
    restarted server creates) finds the job interrupted, and old logs still stream."""
    cleanup_images.extend([f"{unique_name}:done", f"{unique_name}:cut"])
    _, done, _ = await call(
        jp_fetch,
        "builds",
        method="POST",
        body={"source": {"path": "proj"}, "image": f"{unique_name}:done"},
    )
    done_log = await read_events(done["id"])
    assert done_log[-1]["phase"] == "ready"
    _, cut, _ = await call(
        jp_fetch,
        "builds",
        method="POST",
        body={"source": {"path": "slow"}, "image": f"{unique_name}:cut"},
    )
    await _wait_phase(jp_fetch, cut["id"], "building")
    first: JobManager = jp_serverapp.web_app.settings["r2d_jobs"]
    await first.flush()
    # From here the first server is "dead": it writes nothing more to the shared data dir.
    monkeypatch.setattr(first.writer, "_write", lambda events, records: None)
    before = await read_events(cut["id"], stop_after=3)

    # Both managers live in this one process: the "restarted" one must not kill the first's
    # build (its sweep is tested in test_engine/test_jobs), or the first would write on.
    async def no_sweep(job_ids: Any) -> int:
        return 0

    monkeypatch.setattr(first.engine, "abandon", no_sweep)
    second = JobManager(first.engine, first.settings)
    await second.ensure_started()
    jp_serverapp.web_app.settings["r2d_jobs"] = second
    try:
        _, record, _ = await call(jp_fetch, "builds", cut["id"])
        assert record["status"] == "interrupted"
        log = await read_events(cut["id"])
        assert log[:3] == before
        assert log[-1]["phase"] == "failed"
        assert log[-1]["status"] == "interrupted"
        assert await read_events(done["id"]) == done_log
        assert await read_events(done["id"], last_event_id=4) == done_log[4:]
    finally:
        jp_serverapp.web_app.settings["r2d_jobs"] = first
        await second.stop()
        # The old server's build must not go on: stopping it kills the build process.
        await first.cancel(cut["id"])
    record = await wait_finished(jp_fetch, cut["id"], timeout=60)
    assert record["status"] == "cancelled"


async def test_build_from_a_private_base_logs_in_without_pushing(
    jp_fetch, jp_root_dir, read_events, auth_registry, base_image, unique_name, docker_client,
    cleanup_images,
):  # fmt: skip
    """An educator's course image FROM a private base: the registry login serves the pull,
    the image stays local under the given name, and without the login the pull is refused."""
    private = f"{auth_registry.address}/{unique_name}-base:1"
    docker_client.tag(base_image, private)
    cleanup_images.append(private)
    login = {
        "server": auth_registry.address,
        "username": auth_registry.username,
        "password": auth_registry.password,
    }
    auth = {"username": login["username"], "password": login["password"]}
    for chunk in docker_client.push(private, stream=True, decode=True, auth_config=auth):
        assert "error" not in chunk, chunk
    docker_client.remove_image(private)
    make_repo(jp_root_dir / "course", {"Dockerfile": f"FROM {private}\n"}, git=False)
    image = f"{unique_name}:course"
    cleanup_images.append(image)

    _, refused, _ = await call(
        jp_fetch, "builds", method="POST", body={"source": {"path": "course"}, "image": image}
    )
    events = await read_events(refused["id"])
    assert events[-1]["phase"] == "failed"
    assert "unauthorized" in events[-1]["error"].lower()  # the registry's refusal, shown

    body = {"source": {"path": "course"}, "image": image, "registry": login}
    _, record, _ = await call(jp_fetch, "builds", method="POST", body=body)
    assert record["image"] == f"{image}" and not record["push"]
    events = await read_events(record["id"])
    assert events[-1]["phase"] == "ready", events[-1]
    assert auth_registry.password not in json.dumps(events)
    assert docker_client.inspect_image(image)["Id"] == events[-1]["image_id"]
    assert auth_registry.tags(unique_name) == []  # nothing was pushed


async def test_push_existing_image_to_auth_registry_redacts_password(
    jp_fetch,
    jp_serverapp,
    read_events,
    auth_registry,
    base_image,
    unique_name,
    docker_client,
    cleanup_images,
):
    lifecycle: list[dict[str, Any]] = []

    async def listen(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        lifecycle.append(data)

    jp_serverapp.event_logger.add_listener(schema_id=BUILD_EVENTS, listener=listen)
    image = f"{auth_registry.address}/{unique_name}:pushed"
    docker_client.tag(base_image, image)
    cleanup_images.append(image)
    body = {
        "source": None,
        "image": image,
        "push": True,
        "registry": {
            "server": auth_registry.address,
            "username": auth_registry.username,
            "password": auth_registry.password,
        },
    }
    _, record, _ = await call(jp_fetch, "builds", method="POST", body=body)
    assert record["registry"] == {
        "server": auth_registry.address,
        "username": auth_registry.username,
    }
    events = await read_events(record["id"])
    assert events[-1]["phase"] == "ready", events[-1]
    assert auth_registry.tags(unique_name) == ["pushed"]
    assert auth_registry.password not in json.dumps(events)
    record = await wait_finished(jp_fetch, record["id"])
    assert auth_registry.password not in json.dumps(record)
    await asyncio.sleep(0.1)  # listeners run as tasks
    mine = [(e["action"], e["status"]) for e in lifecycle if e["job_id"] == record["id"]]
    assert mine == [("started", "running"), ("finished", "succeeded")]


async def test_failed_source_ends_with_one_failed_event(jp_fetch, read_events, jp_root_dir):
    # A git URL that cannot be fetched: preparation fails, the job emits the terminal event.
    body = {"source": {"url": "https://127.0.0.1:9/nothing.git", "ref": "main"}, "image": "x:y"}
    _, record, _ = await call(jp_fetch, "builds", method="POST", body=body)
    events = await read_events(record["id"])
    assert events[-1]["phase"] == "failed"
    assert [e["phase"] for e in events].count("failed") == 1
    assert events[-1]["error"]
    record = await wait_finished(jp_fetch, record["id"])
    assert record["status"] == "failed"
    assert record["error"]


async def test_preview(jp_fetch, folder_repo):
    code, preview, _ = await call(
        jp_fetch, "preview", method="POST", body={"source": {"path": "proj"}}
    )
    assert code == 200
    assert "FROM" in preview["dockerfile"]
    assert preview["buildpack"]
    assert isinstance(preview["warnings"], list)


async def test_writer_previews_a_git_url(jp_fetch, git_server):
    make_repo(git_server.base / "repo", {"requirements.txt": "numpy\n"})
    body = {"source": {"url": git_server.url("repo")}}
    code, preview, _ = await call(jp_fetch, "preview", method="POST", body=body)
    assert code == 200
    assert preview["buildpack"] == "PythonBuildPack"


async def test_keepalive_comment(jp_fetch, jp_serverapp, slow_repo, unique_name, cleanup_images):
    jp_serverapp.web_app.settings["r2d_keepalive_interval"] = 0.2
    cleanup_images.append(f"{unique_name}:ka")
    _, record, _ = await call(
        jp_fetch,
        "builds",
        method="POST",
        body={"source": {"path": "slow"}, "image": f"{unique_name}:ka"},
    )
    text = [""]
    comments: list[str] = []

    class Enough(Exception):
        pass

    def on_chunk(chunk: bytes) -> None:
        _, found, text[0] = parse_sse(text[0] + chunk.decode())
        comments.extend(found)
        if "keepalive" in comments:
            raise Enough

    with contextlib.suppress(Enough, HTTPClientError):
        await jp_fetch(
            "r2d",
            "api",
            "builds",
            record["id"],
            "events",
            streaming_callback=on_chunk,
            request_timeout=60,
        )
    assert "keepalive" in comments
    await call(jp_fetch, "builds", record["id"], "cancel", method="POST")
    await wait_finished(jp_fetch, record["id"], timeout=60)


class TestPushToAConfiguredRegistry:
    """An educator's flow: a named registry in the server config, an image pushed by name."""

    @pytest.fixture
    def jp_server_config(self, auth_registry):
        return {
            "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
            "JupyterR2D": {
                "registries": {
                    "course": {
                        "server": auth_registry.address,
                        "username": auth_registry.username,
                        "password": auth_registry.password,
                    }
                }
            },
        }

    async def test_push_a_local_image_by_its_short_name(
        self, jp_fetch, read_events, auth_registry, docker_client, base_image, unique_name,
        cleanup_images,
    ):  # fmt: skip
        local = f"{unique_name}:v1"
        docker_client.tag(base_image, local)
        remote = f"{auth_registry.address}/{local}"
        cleanup_images.extend([local, remote])
        body = {"source": None, "image": local, "push": True, "registry": "course"}
        code, record, _ = await call(jp_fetch, "builds", method="POST", body=body)
        assert code == 202
        assert record["image"] == remote and record["source_image"] == local
        events = await read_events(record["id"])
        assert events[-1]["phase"] == "ready", events[-1]
        assert auth_registry.tags(unique_name) == ["v1"]
        assert events[-1]["digest"] == auth_registry.digest(unique_name, "v1")
        _, listing, _ = await call(jp_fetch, "builds")
        assert auth_registry.password not in json.dumps([events, listing])
