"""Users who may only read see the runs' URLs without their token: the token opens the
run's Jupyter server (code execution), so it is a key only writers get."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path

import docker
import pytest
import requests
from conftest import make_repo, parse_sse
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User
from tornado.httpclient import HTTPClientError

pytestmark = [pytest.mark.docker]

READER_TOKEN = f"reader-{uuid.uuid4().hex}"
READER = {"Authorization": f"token {READER_TOKEN}"}


class TwoUsers(IdentityProvider):
    """Two tokens, two users: the server's token is "writer", ``READER_TOKEN`` "reader"."""

    async def get_user_token(self, handler):  # type: ignore[no-untyped-def]
        if handler.request.headers.get("Authorization") == READER["Authorization"]:
            return User("reader")
        user = await super().get_user_token(handler)
        return User("writer") if user is not None else None


class ReadersRead(Authorizer):
    """The user "reader" may only read; "writer" may do anything."""

    def is_authorized(self, handler, user, action, resource):  # type: ignore[no-untyped-def]
        return user.username != "reader" or action == "read"


class AsyncReadersRead(Authorizer):
    """The same, answering with a coroutine (jupyter_server awaits an authorizer's answer)."""

    async def is_authorized(self, handler, user, action, resource):  # type: ignore[no-untyped-def]
        return user.username != "reader" or action == "read"


@pytest.fixture(params=[ReadersRead, AsyncReadersRead], ids=["sync", "async"])
def jp_server_config(request):
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_r2d": True},
            "identity_provider_class": TwoUsers,
            "authorizer_class": request.param,
        }
    }


@pytest.fixture
def jupyter_like_repo(jp_root_dir: Path, base_image: str) -> Path:
    """An image that looks like repo2docker's to the engine (its entrypoint), so a run
    gets a generated token in its URL; busybox httpd stands in for Jupyter on 8888."""
    dockerfile = (
        f"FROM {base_image}\n"
        "RUN mkdir -p /www /usr/local/bin && echo hello > /www/index.html"
        " && printf '#!/bin/sh\\nexec httpd -f -p 8888 -h /www\\n'"
        " > /usr/local/bin/repo2docker-entrypoint"
        " && chmod +x /usr/local/bin/repo2docker-entrypoint\n"
        'ENTRYPOINT ["/usr/local/bin/repo2docker-entrypoint"]\n'
    )
    return make_repo(jp_root_dir / "nb", {"Dockerfile": dockerfile}, git=False)


async def test_readers_get_run_urls_without_their_token(
    jp_fetch, jupyter_like_repo, unique_name, cleanup_images, docker_client
):
    image = f"{unique_name}:nb"
    cleanup_images.append(image)

    async def get(*parts: str, reader: bool, **kwargs) -> bytes:  # type: ignore[no-untyped-def]
        headers = READER if reader else {}
        response = await jp_fetch("r2d", "api", *parts, headers=dict(headers), **kwargs)
        body: bytes = response.body
        return body

    body = {"source": {"path": "nb"}, "image": image, "run": True}
    response = await jp_fetch("r2d", "api", "builds", method="POST", body=json.dumps(body))
    job_id = json.loads(response.body)["id"]
    try:
        # Both follow the build live, then replay it from the log file.
        live = await asyncio.gather(
            *(get("builds", job_id, "events", reader=r, request_timeout=240) for r in (0, 1))
        )
        writer_events = parse_sse(live[0].decode())[0]
        ready = writer_events[-1]
        assert ready["phase"] == "ready", ready
        url = ready["url"]
        assert "?token=" in url
        token = url.split("?token=", 1)[1]
        address = url.split("?", 1)[0]
        assert await asyncio.to_thread(lambda: requests.get(url, timeout=10).status_code) == 200

        replays = [await get("builds", job_id, "events", reader=r) for r in (False, True)]
        records = [await get("builds", job_id, reader=r) for r in (False, True)]
        listings = [await get("builds", reader=r) for r in (False, True)]
        containers = [await get("containers", reader=r) for r in (False, True)]

        # Writers see the key, everywhere.
        assert parse_sse(replays[0].decode())[0][-1]["url"] == url
        assert json.loads(records[0])["container"]["url"] == url
        assert json.loads(listings[0])["builds"][0]["container"]["url"] == url
        mine = [c for c in json.loads(containers[0])["containers"] if c["job_id"] == job_id]
        assert mine[0]["url"] == url

        # Readers see where the run is, never the key.
        for answer in (live[1], replays[1], records[1], listings[1], containers[1]):
            assert token.encode() not in answer
        reader_events = parse_sse(live[1].decode())[0]
        assert reader_events[-1]["url"] == address
        assert reader_events[:-1] == writer_events[:-1]
        assert parse_sse(replays[1].decode())[0] == reader_events
        assert json.loads(records[1])["container"]["url"] == address
        mine = [c for c in json.loads(containers[1])["containers"] if c["job_id"] == job_id]
        assert mine[0]["url"] == address
    finally:
        for container in docker_client.containers(all=True, filters={"name": job_id}):
            with contextlib.suppress(docker.errors.DockerException):
                docker_client.remove_container(container["Id"], force=True)


async def test_readers_may_not_preview_a_git_url(jp_fetch):
    """The same check (``may``) guards the preview of a git URL, whichever authorizer."""
    body = json.dumps({"source": {"url": "https://127.0.0.1:9/x.git", "ref": "main"}})
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("r2d", "api", "preview", method="POST", body=body, headers=dict(READER))
    assert err.value.code == 403
