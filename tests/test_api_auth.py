"""Authorization: every route asks the deployment's Authorizer, reads as ``read`` and
everything else as ``write`` on the ``r2d`` resource."""

from __future__ import annotations

import json

import pytest
from conftest import make_repo
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

pytestmark = [pytest.mark.docker]


class ReadOnlyAuthorizer(Authorizer):
    """Allows browsing, denies building and deleting."""

    def is_authorized(self, handler, user, action, resource):  # type: ignore[no-untyped-def]
        return action == "read"


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_r2d": True},
            "authorizer_class": ReadOnlyAuthorizer,
        }
    }


async def test_read_only_user_can_list_but_not_build_or_delete(jp_fetch, base_image):
    response = await jp_fetch("r2d", "api", "images")
    assert response.code == 200
    assert json.loads(response.body)["images"]
    response = await jp_fetch("r2d", "api", "builds")
    assert response.code == 200
    denied = [
        ("builds", "POST", json.dumps({"source": None, "image": base_image, "run": True})),
        (f"images/{base_image.replace('/', '%2F')}", "DELETE", None),
        ("images/prune", "POST", ""),
        ("containers/abc", "DELETE", None),
        ("builds/abc/cancel", "POST", ""),
        ("builds/abc", "DELETE", None),
    ]
    for path, method, body in denied:
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("r2d", "api", *path.split("/"), method=method, body=body)
        assert err.value.code == 403, (path, method)


async def test_folder_preview_is_a_read(jp_fetch, jp_root_dir):
    # Not a 403: a folder preview builds nothing, so a read-only user may ask.
    (jp_root_dir / "proj").mkdir()
    (jp_root_dir / "proj" / "requirements.txt").write_text("numpy\n")
    body = json.dumps({"source": {"path": "proj"}})
    response = await jp_fetch("r2d", "api", "preview", method="POST", body=body)
    assert json.loads(response.body)["buildpack"] == "PythonBuildPack"


async def test_git_url_preview_is_a_write(jp_fetch, git_server):
    # A reader may not make the server clone remote content (disk, processes, network).
    make_repo(git_server.base / "repo", {"requirements.txt": "numpy\n"})
    body = json.dumps({"source": {"url": git_server.url("repo")}})
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("r2d", "api", "preview", method="POST", body=body)
    assert err.value.code == 403
    assert "write" in json.loads(err.value.response.body)["message"]


async def test_every_route_needs_authentication(jp_fetch):
    for path in ("engine", "builds", "images", "containers", "registries"):
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("r2d", "api", path, headers={"Authorization": ""})
        assert err.value.code == 403
