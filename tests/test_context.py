"""The build context: nothing outside the folder is read through it, credential stores and
the Jupyter runtime directory never enter it, hidden files follow ``allow_hidden``, and
build-arg values stay off every command line. Through the sources, the render worker, and
the HTTP API against the real daemon on both engines."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GitServer, make_repo
from tornado.httpclient import HTTPClientError

from jupyter_r2d import labels
from jupyter_r2d.errors import InvalidRequest
from jupyter_r2d.render import render, shutdown_renderer
from jupyter_r2d.sources import SourcePolicy, SourceSpec, check_folder, prepare_source, preview
from jupyter_r2d.validation import parse_build_args

#: A value only the server's environment holds: it must never come back in an answer.
MARKER = f"r2d-secret-{uuid.uuid4().hex}"


@pytest.fixture
def server_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """MARKER in this process's environment and in a fresh render worker's."""
    monkeypatch.setenv("R2D_TEST_SERVER_SECRET", MARKER)
    shutdown_renderer()  # the next render spawns a worker that inherits it
    yield MARKER
    shutdown_renderer()


def _symlink(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


#: (entry, how to make it, subdir built): each a file repo2docker or Docker would read.
UNSAFE = [
    pytest.param("Dockerfile", _symlink("/proc/self/environ"), None, id="dockerfile-proc"),
    pytest.param("requirements.txt", _symlink("/etc/passwd"), None, id="requirements-passwd"),
    pytest.param("environment.yml", _fifo, None, id="environment-fifo"),
    pytest.param("binder", _symlink("/etc"), None, id="binder-etc"),
    pytest.param(".binder/apt.txt", _symlink("../../outside.txt"), None, id="dotbinder-out"),
    pytest.param("sub/Dockerfile", _symlink("/proc/self/environ"), "sub", id="subdir-proc"),
]


def _unsafe_folder(root: Path, entry: str, make: Callable[[Path], None]) -> Path:
    """``root/proj`` holding a notebook and the unsafe ``entry``; a file beside it outside."""
    (root / "outside.txt").write_text(f"{MARKER}\n")
    folder = make_repo(root / "proj", {"notebook.ipynb": "{}\n"}, git=False)
    (folder / entry).parent.mkdir(parents=True, exist_ok=True)
    make(folder / entry)
    return folder


def _refused(err: InvalidRequest, entry: str) -> None:
    assert err.field == "source"
    assert entry.removeprefix("sub/") in str(err)
    assert "refused" in str(err)
    assert MARKER not in str(err)


@pytest.mark.parametrize(("entry", "make", "subdir"), UNSAFE)
async def test_unsafe_config_files_are_refused_naming_them(
    tmp_path: Path, server_secret: str, entry: str, make: Callable[[Path], None], subdir: str | None
) -> None:
    """At submission (check_folder), in preview, and in the worker itself (which a git
    clone reaches without check_folder): a 400 naming the file, never its content. A FIFO
    opened by repo2docker would hang: the timeout turns that into a failure."""
    folder = _unsafe_folder(tmp_path, entry, make)
    spec = SourceSpec(path="proj", subdir=subdir)
    with pytest.raises(InvalidRequest) as info:
        await asyncio.to_thread(check_folder, spec, tmp_path)
    _refused(info.value, entry)
    with pytest.raises(InvalidRequest) as info:
        await asyncio.wait_for(preview(spec, root_dir=tmp_path, workdir=tmp_path), 60)
    _refused(info.value, entry)
    build_dir = folder / subdir if subdir else folder
    with pytest.raises(InvalidRequest) as info:
        await asyncio.wait_for(
            render(build_dir, tarball=tmp_path / "context.tar", timeout=60, workers=1), 90
        )
    _refused(info.value, entry)


async def test_symlinks_inside_the_folder_work_and_stay_symlinks(tmp_path: Path) -> None:
    """A config file linked inside the folder is read; any symlink goes into the tar as a
    symlink, never followed (one to /etc/passwd carries no byte of it)."""
    folder = make_repo(tmp_path / "proj", {"env/requirements.txt": "numpy\n"}, git=False)
    (folder / "requirements.txt").symlink_to("env/requirements.txt")
    (folder / "passwd").symlink_to("/etc/passwd")
    prepared = await prepare_source(
        SourceSpec(path="proj"), root_dir=tmp_path, workdir=tmp_path, on_event=lambda e: None
    )
    assert prepared.buildpack == "PythonBuildPack"
    with tarfile.open(prepared.context.tarball) as tar:
        link = tar.getmember("src/passwd")
        assert link.issym() and link.linkname == "/etc/passwd"
        assert tar.getmember("src/requirements.txt").issym()
        assert tar.getmember("src/env/requirements.txt").isfile()
    await asyncio.to_thread(prepared.cleanup)


def _home_like(folder: Path, runtime: Path) -> None:
    """Credential stores, a runtime dir with a server file, a hidden .env, a FIFO."""
    files = {
        ".ssh/id_rsa": "PRIVATE KEY\n",
        ".aws/credentials": "[default]\n",
        ".netrc": "machine x login y password z\n",
        ".docker/config.json": "{}\n",
        ".config/gcloud/x": "token\n",
        ".config/app.ini": "kept\n",
        "deep/.kube/config": "token\n",
        ".env": "KEY=1\n",
        "notebook.ipynb": "{}\n",
    }
    make_repo(folder, files, git=False)
    runtime.mkdir(parents=True, exist_ok=True)
    (runtime / "jpserver-1.json").write_text('{"token": "server-token"}\n')
    os.mkfifo(folder / "pipe")


EXPECTED_LEFT_OUT = {
    ".aws/": "credentials",
    ".config/gcloud/": "credentials",
    ".docker/": "credentials",
    ".netrc": "credentials",
    ".ssh/": "credentials",
    "deep/.kube/": "credentials",
    "jupyter-runtime/": "Jupyter runtime files",
    "pipe": "not a regular file",
}


async def test_credentials_runtime_dir_and_special_files_are_left_out(tmp_path: Path) -> None:
    """Even with hidden files allowed; the build log and the preview say what went."""
    folder = tmp_path / "home"
    _home_like(folder, folder / "jupyter-runtime")
    policy = SourcePolicy(allow_hidden=True, runtime_dir=str(folder / "jupyter-runtime"))
    events: list[str] = []
    spec = SourceSpec(path="home")
    prepared = await prepare_source(
        spec, root_dir=tmp_path, workdir=tmp_path, on_event=lambda e: events.append(e.message),
        policy=policy,
    )  # fmt: skip
    with tarfile.open(prepared.context.tarball) as tar:
        names = set(tar.getnames())
    await asyncio.to_thread(prepared.cleanup)
    assert {"src/.env", "src/.config/app.ini", "src/notebook.ipynb", "src/deep"} <= names
    for path in EXPECTED_LEFT_OUT:
        assert not any(n == f"src/{path}".rstrip("/") or n.startswith(f"src/{path}") for n in names)
    logged = [m for m in events if m.startswith("Left out of the build context:")]
    assert len(logged) == 1
    for path, reason in EXPECTED_LEFT_OUT.items():
        assert f"{path} ({reason})" in logged[0]

    result = await preview(spec, root_dir=tmp_path, workdir=tmp_path, policy=policy)
    assert {e["path"]: e["reason"] for e in result["left_out"]} == EXPECTED_LEFT_OUT
    assert result["left_out_total"] == len(EXPECTED_LEFT_OUT)
    assert logged[0] in result["warnings"]


@pytest.mark.parametrize("allow_hidden", [False, True])
async def test_hidden_files_follow_allow_hidden_but_binder_and_dockerignore_always_work(
    tmp_path: Path, allow_hidden: bool
) -> None:
    files = {
        ".binder/requirements.txt": "numpy\n",
        # With a binder folder, repo2docker reads the ignore file there.
        ".binder/.dockerignore": "secret.txt\n",
        ".dockerignore": "other.txt\n",
        "secret.txt": "x\n",
        ".env": "KEY=1\n",
        "notebook.ipynb": "{}\n",
    }
    make_repo(tmp_path / "proj", files, git=False)
    policy = SourcePolicy(allow_hidden=allow_hidden)
    spec = SourceSpec(path="proj")
    result = await preview(spec, root_dir=tmp_path, workdir=tmp_path, policy=policy)
    assert result["buildpack"] == "PythonBuildPack"
    assert ".binder/requirements.txt" in result["dockerfile"]
    hidden = [{"path": ".env", "reason": "hidden"}]
    assert result["left_out"] == ([] if allow_hidden else hidden)
    prepared = await prepare_source(
        spec, root_dir=tmp_path, workdir=tmp_path, on_event=lambda e: None, policy=policy
    )
    with tarfile.open(prepared.context.tarball) as tar:
        names = set(tar.getnames())
    await asyncio.to_thread(prepared.cleanup)
    kept = {"src/.binder/requirements.txt", "src/.binder/.dockerignore", "src/.dockerignore"}
    assert kept | {"src/notebook.ipynb"} <= names
    assert "src/secret.txt" not in names
    assert ("src/.env" in names) is allow_hidden


async def test_a_git_clone_keeps_its_hidden_files(tmp_path: Path, git_server: GitServer) -> None:
    """What a remote published is not the user's hidden files: a clone keeps them (``.git``
    for version tools), credential stores still go."""
    make_repo(git_server.base / "r", {"requirements.txt": "numpy\n", ".jupyter/c.py": "#\n",
                                      ".ssh/id_rsa": "k\n"})  # fmt: skip
    prepared = await prepare_source(
        SourceSpec(url=git_server.url("r")), root_dir=tmp_path, workdir=tmp_path,
        on_event=lambda e: None,
    )  # fmt: skip
    with tarfile.open(prepared.context.tarball) as tar:
        names = set(tar.getnames())
    await asyncio.to_thread(prepared.cleanup)
    assert {"src/.jupyter/c.py", "src/.git"} <= names
    assert not any(n.startswith("src/.ssh") for n in names)


@pytest.mark.parametrize(
    ("path", "policy", "field", "says"),
    [
        (".ssh", SourcePolicy(allow_hidden=True), "source.path", "credentials"),
        ("a/.config/gcloud", SourcePolicy(allow_hidden=True), "source.path", "credentials"),
        (".hidden", SourcePolicy(), "source.path", "hidden"),
        ("run", None, "source.path", "runtime"),
    ],
)
def test_folders_that_are_never_built(
    tmp_path: Path, path: str, policy: SourcePolicy | None, field: str, says: str
) -> None:
    (tmp_path / path).mkdir(parents=True)
    policy = policy or SourcePolicy(runtime_dir=str(tmp_path / "run"))
    with pytest.raises(InvalidRequest) as info:
        check_folder(SourceSpec(path=path), tmp_path, policy=policy)
    assert info.value.field == field and says in str(info.value)


@pytest.mark.parametrize("name", ["DOCKER_HOST", "DOCKER_CONFIG", "BUILDX_BUILDER", "LD_PRELOAD",
                                  "PATH", "HOME"])  # fmt: skip
def test_build_args_that_would_configure_the_docker_cli_are_refused(name: str) -> None:
    """buildx reads build-arg values from its environment: these names would steer it."""
    with pytest.raises(InvalidRequest) as info:
        parse_build_args({name: "x"})
    assert info.value.field == f"build_args.{name}"
    with pytest.raises(InvalidRequest):
        parse_build_args({"OK": "a\x00b"})
    assert parse_build_args({"DOCKER": "1", "GO_VERSION": "1.22"}) == {
        "DOCKER": "1",
        "GO_VERSION": "1.22",
    }


# --- through the HTTP API, against the real daemon, on both engines ---------------------------


def files_in_image(image: str, under: str) -> set[str]:
    """Every path of the image's filesystem below ``under`` (docker export: no tool of the
    image itself needed)."""
    cid = subprocess.run(
        ["docker", "create", image, "true"], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        export = subprocess.run(["docker", "export", cid], capture_output=True, check=True)
    finally:
        subprocess.run(["docker", "rm", cid], capture_output=True, check=False)
    with tarfile.open(fileobj=io.BytesIO(export.stdout)) as tar:
        names = [n.removeprefix("./") for n in tar.getnames()]
    return {n.removeprefix(under) for n in names if n.startswith(under)}


async def call(jp_fetch, *parts: str, method: str = "GET", body: Any = None) -> Any:
    kwargs: dict[str, Any] = {"method": method}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    response = await jp_fetch("r2d", "api", *parts, **kwargs)
    return json.loads(response.body) if response.body else None


async def refusal(jp_fetch, *parts: str, body: Any) -> dict[str, Any]:
    with pytest.raises(HTTPClientError) as info:
        await call(jp_fetch, *parts, method="POST", body=body)
    assert info.value.code == 400
    assert info.value.response is not None
    error: dict[str, Any] = json.loads(info.value.response.body)
    return error


@pytest.fixture(params=["buildx", "docker-api"])
def engine_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.docker
@pytest.mark.parametrize(("entry", "make", "subdir"), UNSAFE)
async def test_api_refuses_unsafe_files_in_preview_and_build(
    jp_fetch, jp_root_dir: Path, server_secret: str, entry: str, make: Callable, subdir: str | None
) -> None:
    _unsafe_folder(jp_root_dir, entry, make)
    source = {"path": "proj", **({"subdir": subdir} if subdir else {})}
    build = {"source": source, "image": "r2d-test/unsafe:1"}
    for parts, body in ((("preview",), {"source": source}), (("builds",), build)):
        error = await refusal(jp_fetch, *parts, body=body)
        assert error["field"] == "source"
        assert entry.removeprefix("sub/") in error["message"]
        assert MARKER not in json.dumps(error)
    assert (await call(jp_fetch, "builds"))["builds"] == []


class TestThroughTheApi:
    """A server per engine, hidden files allowed, its runtime directory inside the folder."""

    @pytest.fixture
    def jp_runtime_dir(self, jp_root_dir: Path) -> Path:
        path = jp_root_dir / "proj" / "jupyter-runtime"
        path.mkdir(parents=True)
        return path

    @pytest.fixture
    def jp_server_config(self, engine_kind: str) -> dict[str, Any]:
        return {
            "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
            "ContentsManager": {"allow_hidden": True},
            "JupyterR2D": {"engine_kind": engine_kind},
        }

    @pytest.mark.docker
    async def test_git_source_with_an_unsafe_file_fails_naming_it(
        self, jp_fetch, read_events, git_server: GitServer, server_secret: str
    ) -> None:
        """A clone is vetted by the worker: the job fails with the file named."""
        repo = make_repo(git_server.base / "evil", {"README.md": "x\n"}, git=False)
        (repo / "Dockerfile").symlink_to("/proc/self/environ")
        make_repo(repo, {}, git=True)
        source = {"url": git_server.url("evil")}
        error = await refusal(jp_fetch, "preview", body={"source": source})
        assert "Dockerfile" in error["message"] and MARKER not in json.dumps(error)
        record = await call(
            jp_fetch, "builds", method="POST", body={"source": source, "image": "r2d-test/e:1"}
        )
        events = await read_events(record["id"])
        assert events[-1]["phase"] == "failed"
        assert "Dockerfile is a symlink leading outside the folder" in events[-1]["error"]
        assert MARKER not in json.dumps(events)

    @pytest.mark.docker
    async def test_credentials_never_enter_the_image(
        self, jp_fetch, jp_root_dir: Path, jp_runtime_dir: Path, read_events, base_image: str,
        unique_name: str, cleanup_images: list[str], docker_client: Any,
    ) -> None:  # fmt: skip
        folder = jp_root_dir / "proj"
        _home_like(folder, jp_runtime_dir)
        (folder / "Dockerfile").write_text(f"FROM {base_image}\nCOPY . /srv/repo\n")
        preview = await call(jp_fetch, "preview", method="POST", body={"source": {"path": "proj"}})
        assert {e["path"]: e["reason"] for e in preview["left_out"]} == EXPECTED_LEFT_OUT

        image = f"{unique_name}:home"
        cleanup_images.append(image)
        body = {"source": {"path": "proj"}, "image": image}
        record = await call(jp_fetch, "builds", method="POST", body=body)
        events = await read_events(record["id"])
        assert events[-1]["phase"] == "ready", events[-1]
        logged = [e["message"] for e in events if e["message"].startswith("Left out of")]
        assert logged and all(f"{p} ({r})" in logged[0] for p, r in EXPECTED_LEFT_OUT.items())
        found = await asyncio.to_thread(files_in_image, image, "srv/repo/")
        assert {".env", ".config/app.ini", "notebook.ipynb", "Dockerfile"} <= found
        for path in EXPECTED_LEFT_OUT:
            assert not any(f == path.rstrip("/") or f.startswith(path) for f in found), path
        labels_ = docker_client.inspect_image(image)["Config"]["Labels"]
        assert labels_[labels.R2D_REPO] == "proj"  # not the host's absolute path


@pytest.mark.docker
async def test_api_hidden_files_are_left_out_by_default(jp_fetch, jp_root_dir: Path) -> None:
    """Jupyter's default (allow_hidden off) reaches the build: a hidden .env is left out."""
    make_repo(jp_root_dir / "proj", {"requirements.txt": "x\n", ".env": "K=1\n"}, git=False)
    preview = await call(jp_fetch, "preview", method="POST", body={"source": {"path": "proj"}})
    assert preview["left_out"] == [{"path": ".env", "reason": "hidden"}]


class TestBuildArgs:
    @pytest.fixture
    def jp_server_config(self) -> dict[str, Any]:
        return {
            "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
            "JupyterR2D": {"engine_kind": "buildx"},
        }

    @pytest.mark.docker
    async def test_build_arg_values_are_on_no_command_line(
        self, jp_fetch, jp_root_dir: Path, read_events, base_image: str, unique_name: str,
        cleanup_images: list[str],
    ) -> None:  # fmt: skip
        """While buildx runs, no /proc/*/cmdline holds the value; the build sees it; the
        record keeps the name only."""
        token = f"tok{uuid.uuid4().hex}"
        dockerfile = (
            f'FROM {base_image}\nARG TOKEN_ARG\nRUN echo "$TOKEN_ARG" > /token.txt && sleep 3\n'
        )
        make_repo(jp_root_dir / "args", {"Dockerfile": dockerfile}, git=False)
        image = f"{unique_name}:args"
        cleanup_images.append(image)
        done = threading.Event()
        seen: dict[str, bool] = {"buildx": False, "token": False}

        def scan() -> None:
            while not done.is_set():
                for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                    try:
                        argv = cmdline.read_bytes()
                    except OSError:
                        continue
                    if token.encode() in argv:
                        seen["token"] = True
                    if b"buildx\0build" in argv and b"--build-arg\0TOKEN_ARG\0" in argv:
                        seen["buildx"] = True
                done.wait(0.01)

        scanner = threading.Thread(target=scan)
        scanner.start()
        try:
            body = {"source": {"path": "args"}, "image": image, "build_args": {"TOKEN_ARG": token}}
            record = await call(jp_fetch, "builds", method="POST", body=body)
            events = await read_events(record["id"])
        finally:
            done.set()
            await asyncio.to_thread(scanner.join)
        assert events[-1]["phase"] == "ready", events[-1]
        assert seen == {"buildx": True, "token": False}
        out = await asyncio.to_thread(
            subprocess.run, ["docker", "run", "--rm", image, "cat", "/token.txt"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert out.stdout.strip() == token
        record = await call(jp_fetch, "builds", record["id"])
        assert record["build_args"] == ["TOKEN_ARG"]
        assert token not in json.dumps(record)
