"""Request-body validation: the image reference grammar, build requests, registries, paths."""

from __future__ import annotations

import json

import pytest

from jupyter_r2d.errors import InvalidRequest
from jupyter_r2d.imageref import parse_image_reference
from jupyter_r2d.redact import redact_urls
from jupyter_r2d.registries import Registry, load_registries, registries_from_environment
from jupyter_r2d.sources import SourceSpec
from jupyter_r2d.validation import (
    MAX_BODY_BYTES,
    parse_build_params,
    parse_json_body,
)

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "normalised", "domain"),
    [
        ("busybox", "busybox:latest", None),
        ("library/busybox:1.36", "library/busybox:1.36", None),
        ("my_user/app.name-x:v1.0_rc-2", "my_user/app.name-x:v1.0_rc-2", None),
        ("a__b/c---d", "a__b/c---d:latest", None),
        ("localhost/app", "localhost/app:latest", "localhost"),
        ("127.0.0.1:5555/r2d/app:t", "127.0.0.1:5555/r2d/app:t", "127.0.0.1:5555"),
        ("Registry.Example.com/app", "Registry.Example.com/app:latest", "Registry.Example.com"),
        ("[::1]:5000/app:x", "[::1]:5000/app:x", "[::1]:5000"),
        (f"app@{DIGEST}", f"app@{DIGEST}", None),
        (f"app:t@{DIGEST}", f"app:t@{DIGEST}", None),
        ("app:" + "t" * 128, "app:" + "t" * 128, None),
    ],
)
def test_valid_image_references(ref, normalised, domain):
    parsed = parse_image_reference(ref)
    assert str(parsed) == normalised
    assert parsed.domain == domain


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "App",
        "MyUser/app",
        "app:",
        "app:-tag",
        "app:" + "t" * 129,
        "-app",
        "app-",
        "a..b",
        "a/b//c",
        "app@sha256:short",
        "app@md5:" + "a" * 32,
        "host:port/app",
        "app name",
        "a" * 256,
        "/app",
        "app/",
        42,
        None,
    ],
)
def test_invalid_image_references(ref):
    with pytest.raises(InvalidRequest) as err:
        parse_image_reference(ref)
    assert err.value.field == "image"


def test_uppercase_gets_a_hint():
    with pytest.raises(InvalidRequest, match="lowercase"):
        parse_image_reference("Busybox")


def test_json_body_limits():
    assert parse_json_body(b"") == {}
    assert parse_json_body(b'{"a": 1}') == {"a": 1}
    for bad in (b"{", b"[1]", b"\xff\xfe", b'"str"'):
        with pytest.raises(InvalidRequest) as err:
            parse_json_body(bad)
        assert err.value.field == "body"
    big = json.dumps({"image": "x" * (MAX_BODY_BYTES + 1)}).encode()
    with pytest.raises(InvalidRequest, match="larger than"):
        parse_json_body(big)


REGISTRIES = {"hub": Registry("127.0.0.1:5556", "u", "secret", "hub")}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"source": "here"}, "source"),
        ({"source": {"path": ".", "branch": "x"}}, "source.branch"),
        ({"source": None}, "image"),
        ({"source": None, "image": "a"}, "source"),
        ({"source": {"path": "."}, "image": "Bad"}, "image"),
        ({"source": {"path": "."}, "image": f"a@{DIGEST}"}, "image"),
        ({"source": {"path": "."}, "run": "yes"}, "run"),
        ({"source": {"path": "."}, "push": 1}, "push"),
        ({"source": {"path": "."}, "build_args": ["A=1"]}, "build_args"),
        ({"source": {"path": "."}, "build_args": {"A": 1}}, "build_args.A"),
        ({"source": {"path": "."}, "build_args": {"A B": "1"}}, "build_args.A B"),
        ({"source": None, "image": "a", "run": True, "build_args": {"A": "1"}}, "build_args"),
        ({"source": {"path": "."}, "push": True, "registry": "nope"}, "registry"),
        ({"source": {"path": "."}, "push": True, "registry": 3}, "registry"),
        ({"source": None, "image": "app:1", "run": True, "registry": "hub"}, "registry"),
        (
            {"source": {"path": "."}, "push": True, "registry": {"server": "h", "password": "p"}},
            "registry.username",
        ),
        (
            {"source": {"path": "."}, "push": True, "registry": {"server": "h", "username": "u"}},
            "registry.password",
        ),
        ({"source": {"path": "."}, "push": True, "registry": {"server": ""}}, "registry.server"),
        (
            {"source": {"path": "."}, "push": True, "registry": {"server": "h", "x": 1}},
            "registry.x",
        ),
        (
            {
                "source": {"path": "."},
                "push": True,
                "registry": {"server": "h/x", "username": "u", "password": "p"},
            },
            "registry.server",
        ),
        (
            {"source": {"path": "."}, "image": "other.io/app", "push": True, "registry": "hub"},
            "image",
        ),
    ],
)
def test_bad_build_requests_name_the_field(body, field):
    with pytest.raises(InvalidRequest) as err:
        parse_build_params(body, REGISTRIES)
    assert err.value.field == field


def test_registry_by_name_prefixes_the_image():
    params = parse_build_params(
        {"source": {"path": "."}, "image": "app:1", "push": True, "registry": "hub"}, REGISTRIES
    )
    assert str(params.image) == "127.0.0.1:5556/app:1"
    assert params.credentials is not None
    assert params.credentials.password == "secret"
    assert "secret" not in repr(params)


def test_registry_without_push_only_logs_in_for_the_build():
    params = parse_build_params(
        {"source": {"path": "."}, "image": "app:1", "registry": "hub"}, REGISTRIES
    )
    assert str(params.image) == "app:1"  # not pushed, so not renamed
    assert params.credentials is not None and params.credentials.password == "secret"


def test_inline_registry():
    params = parse_build_params(
        {
            "source": None,
            "image": "127.0.0.1:5556/app",
            "push": True,
            "registry": {"server": "127.0.0.1:5556", "username": "u", "password": "pw"},
        },
        {},
    )
    assert params.credentials is not None
    assert params.credentials.server == "127.0.0.1:5556"


def test_inline_registry_without_login_is_anonymous():
    for login in ({}, {"username": "", "password": ""}, {"username": None, "password": None}):
        params = parse_build_params(
            {
                "source": {"path": "."},
                "image": "app",
                "push": True,
                "registry": {"server": "127.0.0.1:5555", **login},
            },
            {},
        )
        assert str(params.image) == "127.0.0.1:5555/app:latest"
        assert params.credentials is not None
        assert (params.credentials.username, params.credentials.password) == ("", "")


def test_load_registries_reads_password_env(monkeypatch):
    monkeypatch.setenv("R2D_TEST_PW", "from-env")
    registries = load_registries(
        {"r": {"server": "h:1", "username": "u", "password_env": "R2D_TEST_PW"}}
    )
    assert registries["r"].password == "from-env"
    assert registries["r"].public() == {"name": "r", "server": "h:1", "username": "u"}
    with pytest.raises(ValueError):
        load_registries({"r": {"username": "u"}})


def test_repo2docker_credentials_variable():
    value = json.dumps({"registry": "https://Reg.example:5000/", "username": "u", "password": "pw"})
    registries = registries_from_environment({"CONTAINER_ENGINE_REGISTRY_CREDENTIALS": value})
    assert registries["repo2docker"].server == "reg.example:5000"
    assert registries["repo2docker"].password == "pw"
    assert registries_from_environment({}) == {}
    for bad in ("{not json", json.dumps({"registry": "r", "username": "u"})):
        with pytest.raises(ValueError, match="CONTAINER_ENGINE_REGISTRY_CREDENTIALS") as err:
            registries_from_environment({"CONTAINER_ENGINE_REGISTRY_CREDENTIALS": bad})
        assert "not json" not in str(err.value)


def test_public_source_drops_credentials():
    assert redact_urls("https://user:tok@example.org/r.git") == "https://example.org/r.git"
    assert SourceSpec.from_json({"url": "https://t@example.org/r", "ref": "main"}).describe() == {
        "url": "https://example.org/r",
        "ref": "main",
    }


def test_reproduce_command_for_git_and_folder_sources(tmp_path):
    from jupyter_r2d import labels

    git = {
        labels.JOB: "j",
        labels.SOURCE: "https://example.org/course.git",
        labels.REF: "main",
        labels.COMMIT: "abc123",
        labels.DIRTY: "false",
        labels.SUBDIR: "week 1",
        labels.R2D_REF: "abc123",
    }
    assert labels.describe(git)["ref"] == "main"
    assert labels.reproduce_command(git, "course:1", tmp_path) == (
        "repo2docker --no-run --image-name=course:1 --ref=abc123 '--subdir=week 1' "
        "-- https://example.org/course.git"
    )
    folder = {labels.JOB: "j", labels.SOURCE: "proj", labels.DIRTY: "true"}
    assert labels.reproduce_command(folder, None, tmp_path) == (
        f"repo2docker --no-run -- {tmp_path.resolve() / 'proj'}"
    )
    assert labels.reproduce_command({"other": "label"}, "x:1") is None


def test_reproduce_command_reads_no_label_as_an_option():
    """An image's labels are its author's: a source, ref or subdir that starts with "-"
    stays a value when repo2docker's own command line parser reads the command."""
    import shlex
    import warnings

    from jupyter_r2d import labels

    with warnings.catch_warnings():  # its JSON logger warns of its own renamed module
        warnings.simplefilter("ignore", DeprecationWarning)
        from repo2docker.__main__ import get_argparser

    image_labels = {
        labels.R2D_VERSION: "2024.1",
        labels.R2D_REPO: "--engine=evil",
        labels.R2D_REF: "-x",
        labels.SUBDIR: "--editable",
    }
    command = labels.reproduce_command(image_labels, "course:1")
    assert command is not None
    argv = shlex.split(command)
    assert argv[0] == "repo2docker"
    args = get_argparser().parse_args(argv[1:])
    assert (args.repo, args.ref, args.subdir, args.cmd) == ("--engine=evil", "-x", "--editable", [])
    assert args.image_name == "course:1" and args.engine == "docker"
