"""The foundation's first slice: GET /r2d/api/engine against the real daemon."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError


async def test_engine_status_reports_the_real_daemon(jp_fetch, docker_client):
    response = await jp_fetch("r2d", "api", "engine")
    assert response.code == 200
    status = json.loads(response.body)
    assert status["available"] is True, status
    assert status["error"] is None
    assert status["version"] == docker_client.version()["Version"]
    assert status["name"] in ("buildx", "docker-api")
    if status["name"] == "buildx":
        assert status["driver"] == "docker"
        assert status["builder"]


async def test_engine_status_requires_authentication(jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("r2d", "api", "engine", headers={"Authorization": ""})
    assert err.value.code == 403


class TestDaemonDown:
    """The extension pointed at a socket where no daemon listens."""

    @pytest.fixture(params=["buildx", "docker-api"])
    def jp_server_config(self, request, tmp_path):
        return {
            "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
            "JupyterR2D": {
                "docker_host": f"unix://{tmp_path}/no-docker.sock",
                "engine_kind": request.param,
            },
        }

    async def test_status_answers_200_with_a_readable_error(self, jp_fetch):
        response = await jp_fetch("r2d", "api", "engine")
        assert response.code == 200
        status = json.loads(response.body)
        assert status["available"] is False
        assert status["error"].startswith("Docker is unreachable")
        assert "no-docker.sock" in status["error"]

    async def test_a_build_is_refused_with_503_and_nothing_is_queued(self, jp_fetch, jp_root_dir):
        (jp_root_dir / "proj").mkdir()
        (jp_root_dir / "proj" / "Dockerfile").write_text("FROM scratch\n")
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(
                "r2d",
                "api",
                "builds",
                method="POST",
                body=json.dumps({"source": {"path": "proj"}, "image": "never-built:1"}),
            )
        assert err.value.code == 503
        body = json.loads(err.value.response.body)
        assert "no-docker.sock" in body["message"]
        listing = json.loads((await jp_fetch("r2d", "api", "builds")).body)
        assert listing["builds"] == []
