"""Every kind of bad input is a 400 naming the field; no client input causes a 500."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

pytestmark = [pytest.mark.docker]

REGISTRY = {"server": "127.0.0.1:1", "username": "u", "password": "p"}


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
        "JupyterR2D": {
            "registries": {"local": {"server": "127.0.0.1:1", "username": "u", "password": "p"}}
        },
    }


BAD_BUILDS = [
    # (body, field)
    ("{", "body"),
    ("[]", "body"),
    ('"text"', "body"),
    ("null", "body"),
    (json.dumps({"image": "x" * (1024 * 1024 + 10)}), "body"),
    ({"extra": 1}, "extra"),
    ({"source": {"path": "proj"}, "colour": "blue"}, "colour"),
    ({"source": {"path": "proj", "branch": "main"}}, "source.branch"),
    ({"source": "proj"}, "source"),
    ({"source": None}, "image"),
    ({"source": None, "image": "busybox"}, "source"),
    ({"source": {"path": "proj"}, "image": "Not/Valid"}, "image"),
    ({"source": {"path": "proj"}, "image": "a:b:c"}, "image"),
    ({"source": {"path": "proj"}, "image": ""}, "image"),
    ({"source": {"path": "proj"}, "image": 12}, "image"),
    ({"source": {"path": "proj"}, "run": "true"}, "run"),
    ({"source": {"path": "proj"}, "push": None}, "push"),
    ({"source": {"path": "proj"}, "build_args": {"A": 1}}, "build_args.A"),
    ({"source": {"path": "proj"}, "build_args": "A=1"}, "build_args"),
    ({"source": {"path": "proj"}, "push": True, "registry": "nowhere"}, "registry"),
    (
        {"source": {"path": "proj"}, "push": True, "registry": {"server": "h", "password": "p"}},
        "registry.username",
    ),
    (
        {"source": {"path": "proj"}, "push": True, "registry": {"server": "h", "username": "u"}},
        "registry.password",
    ),
    ({"source": {"path": "../outside"}}, "source.path"),
    ({"source": {"path": "/etc"}}, "source.path"),
    ({"source": {"path": "missing-folder"}}, "source.path"),
    ({"source": {"path": 5}}, "source.path"),
    ({"source": {"url": "not a url"}}, "source.url"),
    ({"source": {"url": "file:///etc"}}, "source.url"),
    ({"source": {"url": 5}}, "source.url"),
    ({"source": {"url": "https://example.org/r.git", "ref": "--upload-pack=x"}}, "source.ref"),
    ({"source": {"url": "https://example.org/r.git", "ref": "a b"}}, "source.ref"),
    ({"source": {"url": "https://example.org/r.git", "subdir": "../x"}}, "source.subdir"),
    ({"source": {}}, "source"),
]


@pytest.fixture
def project(jp_root_dir):
    (jp_root_dir / "proj").mkdir()
    (jp_root_dir / "proj" / "Dockerfile").write_text("FROM scratch\n")
    return jp_root_dir / "proj"


@pytest.mark.parametrize(("body", "field"), BAD_BUILDS)
async def test_bad_build_bodies(jp_fetch, project, body, field):
    raw = body if isinstance(body, str) else json.dumps(body)
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("r2d", "api", "builds", method="POST", body=raw)
    assert err.value.code == 400, err.value.response.body
    reply = json.loads(err.value.response.body)
    assert reply["field"].startswith(field), reply
    assert field in reply["message"] or reply["field"] in reply["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{", "body"),
        ({}, "source"),
        ({"source": None}, "source"),
        ({"source": {"path": "proj"}, "image": "x"}, "image"),
        ({"source": {"path": "../x"}}, "source.path"),
        ({"source": {"url": "nope"}}, "source.url"),
    ],
)
async def test_bad_preview_bodies(jp_fetch, project, body, field):
    raw = body if isinstance(body, str) else json.dumps(body)
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("r2d", "api", "preview", method="POST", body=raw)
    assert err.value.code == 400
    assert json.loads(err.value.response.body)["field"].startswith(field)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "code"),
    [
        ("GET", "builds/0123456789ab", {}, 404),
        ("GET", "builds/0123456789ab/events", {}, 404),
        ("POST", "builds/0123456789ab/cancel", {"body": ""}, 404),
        ("DELETE", "builds/0123456789ab", {}, 404),
        ("GET", "builds/not-an-id", {}, 404),
        ("GET", "images/no-such-image:never", {}, 404),
        ("DELETE", "images/no-such-image:never", {}, 404),
        ("GET", "images/%00%ff", {}, None),
        ("DELETE", "containers/nope", {}, 404),
    ],
)
async def test_unknown_things_are_4xx(jp_fetch, method, path, kwargs, code):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("r2d", "api", *path.split("/"), method=method, **kwargs)
    if code is None:
        assert 400 <= err.value.code < 500
    else:
        assert err.value.code == code


async def test_bad_resume_position(jp_fetch, base_image):
    response = await jp_fetch(
        "r2d",
        "api",
        "builds",
        method="POST",
        body=json.dumps({"source": None, "image": base_image, "push": True, "registry": REGISTRY}),
    )
    job_id = json.loads(response.body)["id"]
    for params, headers in (
        ({"after": "x"}, {}),
        ({"after": "-1"}, {}),
        ({}, {"Last-Event-ID": "z"}),
    ):
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("r2d", "api", "builds", job_id, "events", params=params, headers=headers)
        assert err.value.code == 400
        assert json.loads(err.value.response.body)["field"] == "after"


async def test_registries_show_no_password(jp_fetch):
    response = await jp_fetch("r2d", "api", "registries")
    assert json.loads(response.body) == {
        "registries": [{"name": "local", "server": "127.0.0.1:1", "username": "u"}]
    }
