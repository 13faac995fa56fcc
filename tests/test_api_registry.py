"""A registry login is optional: build and push to an open registry without one, through the
HTTP API, with both engines; a closed registry refuses the anonymous push with a clear job
error, and half a login is a 400 naming the missing field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_repo
from test_api_builds import call, wait_finished
from tornado.httpclient import HTTPClientError

pytestmark = [pytest.mark.docker]


@pytest.fixture(params=["buildx", "docker-api"])
def jp_server_config(request: pytest.FixtureRequest) -> dict[str, object]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
        "JupyterR2D": {"engine_kind": request.param},
    }


@pytest.fixture
def project(jp_root_dir: Path, base_image: str) -> str:
    make_repo(jp_root_dir / "open-push", {"Dockerfile": f"FROM {base_image}\nRUN echo hi\n"})
    return "open-push"


async def test_anonymous_push_to_an_open_registry(
    jp_fetch, read_events, project, registry, unique_name, cleanup_images
):
    image = f"{unique_name}:anon"
    cleanup_images.append(f"{registry.address}/{image}")
    # What the form sends with the login fields left empty.
    login = {"server": registry.address, "username": "", "password": ""}
    body = {"source": {"path": project}, "image": image, "push": True, "registry": login}
    code, record, _ = await call(jp_fetch, "builds", method="POST", body=body)
    assert code == 202
    assert record["image"] == f"{registry.address}/{image}"
    record = await wait_finished(jp_fetch, record["id"])
    assert record["status"] == "succeeded", record
    assert registry.tags(unique_name) == ["anon"]
    events = await read_events(record["id"])
    assert events[-1]["digest"] == registry.digest(unique_name, "anon")

    # No username and password keys at all: the same.
    body = {**body, "image": f"{unique_name}:anon2", "registry": {"server": registry.address}}
    cleanup_images.append(f"{registry.address}/{unique_name}:anon2")
    _, record, _ = await call(jp_fetch, "builds", method="POST", body=body)
    record = await wait_finished(jp_fetch, record["id"])
    assert record["status"] == "succeeded", record
    assert sorted(registry.tags(unique_name)) == ["anon", "anon2"]


async def test_anonymous_push_to_a_closed_registry_fails_clearly(
    jp_fetch, project, auth_registry, unique_name, cleanup_images
):
    image = f"{unique_name}:refused"
    cleanup_images.append(f"{auth_registry.address}/{image}")
    login = {"server": auth_registry.address}
    body = {"source": {"path": project}, "image": image, "push": True, "registry": login}
    code, record, _ = await call(jp_fetch, "builds", method="POST", body=body)
    assert code == 202
    record = await wait_finished(jp_fetch, record["id"])
    assert record["status"] == "failed", record
    error = record["error"].lower()
    assert "needs a login: give a username and password" in error, record["error"]
    assert "traceback" not in error
    assert auth_registry.tags(unique_name) == []


@pytest.mark.parametrize(
    ("login", "field"),
    [
        ({"username": "u"}, "registry.password"),
        ({"username": "u", "password": ""}, "registry.password"),
        ({"password": "p"}, "registry.username"),
        ({"username": None, "password": "p"}, "registry.username"),
        ({"username": 3}, "registry.username"),
    ],
)
async def test_half_a_login_names_the_missing_field(jp_fetch, project, registry, login, field):
    body = {
        "source": {"path": project},
        "image": "x:y",
        "push": True,
        "registry": {"server": registry.address, **login},
    }
    with pytest.raises(HTTPClientError) as info:
        await call(jp_fetch, "builds", method="POST", body=body)
    assert info.value.code == 400
    assert info.value.response is not None
    assert json.loads(info.value.response.body)["field"] == field
