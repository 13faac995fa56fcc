"""repo2docker rendering in the worker process: previews, context tarballs, warnings, and a
real ``docker build`` of a prepared Dockerfile context."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import make_repo

from jupyter_r2d import labels
from jupyter_r2d.errors import InvalidRequest
from jupyter_r2d.lines import MAX_LINE
from jupyter_r2d.render import shutdown_renderer
from jupyter_r2d.sources import SourceSpec, prepare_source, preview


async def test_preview_dockerfile_repo(dockerfile_repo: Path, tmp_path: Path) -> None:
    cwd = os.getcwd()
    result = await preview(
        SourceSpec(path=dockerfile_repo.name), root_dir=dockerfile_repo.parent, workdir=tmp_path
    )
    assert result["buildpack"] == "DockerBuildPack"
    assert result["dockerfile"] == (dockerfile_repo / "Dockerfile").read_text()
    # A folder's .git is hidden (Jupyter's allow_hidden is off by default): said, not built.
    assert result["warnings"] == ["Left out of the build context: .git/ (hidden)"]
    assert result["left_out"] == [{"path": ".git/", "reason": "hidden"}]
    assert result["left_out_total"] == 1
    assert os.getcwd() == cwd


async def test_preview_requirements_repo(tmp_path: Path) -> None:
    cwd = os.getcwd()
    make_repo(tmp_path / "req", {"requirements.txt": "numpy\n"})
    result = await preview(SourceSpec(path="req"), root_dir=tmp_path, workdir=tmp_path)
    assert result["buildpack"] == "PythonBuildPack"
    assert "pip install" in result["dockerfile"]
    assert "requirements.txt" in result["dockerfile"]
    assert os.getcwd() == cwd


async def test_preview_warnings(tmp_path: Path) -> None:
    make_repo(
        tmp_path / "warn",
        {
            "binder/Dockerfile": "FROM scratch\n",
            "binder/requirements.txt": "numpy\n",
            "binder/postBuild": "echo hi\n",
            "binder/notes.md": "x\n",
        },
    )
    result = await preview(SourceSpec(path="warn"), root_dir=tmp_path, workdir=tmp_path)
    text = "\n".join(result["warnings"])
    assert "executable" not in text  # repo2docker runs chmod +x on postBuild itself
    assert "Dockerfile is present" in text and "requirements.txt" in text
    assert "notes.md" in text


async def test_requirements_context_tarball(tmp_path: Path) -> None:
    make_repo(
        tmp_path / "req",
        {
            "requirements.txt": "numpy\n",
            ".dockerignore": "# comment\nsecret.txt\ndata/\n",
            "secret.txt": "hidden\n",
            "data/big.bin": "x\n",
            "notebook.ipynb": "{}\n",
        },
    )
    work = tmp_path / "work"
    work.mkdir()
    prepared = await prepare_source(
        SourceSpec(path="req"), root_dir=tmp_path, workdir=work, on_event=lambda e: None
    )
    assert prepared.buildpack == "PythonBuildPack"
    assert prepared.context.path is None and prepared.context.tarball is not None
    with tarfile.open(prepared.context.tarball) as tar:
        names = set(tar.getnames())
        dockerfile = tar.extractfile("Dockerfile")
        assert dockerfile is not None
        assert "requirements.txt" in dockerfile.read().decode()
    assert {"Dockerfile", "src/requirements.txt", "src/notebook.ipynb"} <= names
    assert "repo2docker-entrypoint" in names
    assert any(n.startswith("build_script_files/") for n in names)
    assert not {"src/secret.txt", "src/data/big.bin", "src/data"} & names
    assert prepared.labels[labels.R2D_VERSION]
    assert prepared.labels[labels.BUILDPACK] == "PythonBuildPack"
    await asyncio.to_thread(prepared.cleanup)
    await asyncio.to_thread(prepared.cleanup)  # idempotent
    assert list(work.iterdir()) == []


async def test_renderer_restarts_after_shutdown(tmp_path: Path) -> None:
    make_repo(tmp_path / "req", {"requirements.txt": "numpy\n"}, git=False)
    spec = SourceSpec(path="req")
    shutdown_renderer()
    shutdown_renderer()  # harmless twice
    result = await preview(spec, root_dir=tmp_path, workdir=tmp_path)
    assert result["buildpack"] == "PythonBuildPack"


@pytest.mark.docker
async def test_dockerfile_context_builds(
    dockerfile_repo: Path, tmp_path: Path, unique_name: str, cleanup_images: list[str]
) -> None:
    """A Dockerfile repo builds from the tar the worker wrote too (no engine reads the
    folder), and ``docker build`` takes the Dockerfile from inside it."""
    prepared = await prepare_source(
        SourceSpec(path=dockerfile_repo.name),
        root_dir=dockerfile_repo.parent,
        workdir=tmp_path,
        on_event=lambda e: None,
    )
    context = prepared.context
    assert context.path is None and context.tarball is not None
    assert context.dockerfile == "Dockerfile"
    # The host's path stays off the image: the label is the root-relative folder.
    assert prepared.labels[labels.R2D_REPO] == dockerfile_repo.name
    cleanup_images.append(unique_name)
    label_args = [f"--label={k}={v}" for k, v in prepared.labels.items()]
    with open(context.tarball, "rb") as tar:  # noqa: ASYNC230 - a test, a small file
        proc = await asyncio.create_subprocess_exec(
            "docker", "build", "-q", "-t", unique_name, "-f", context.dockerfile,
            *label_args, "-",
            stdin=tar, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    inspect = await asyncio.to_thread(
        subprocess.run,
        ["docker", "image", "inspect", "-f", "{{json .Config.Labels}}", unique_name],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    assert prepared.labels[labels.COMMIT] in inspect.stdout
    await asyncio.to_thread(prepared.cleanup)


async def test_render_error_is_user_facing(tmp_path: Path) -> None:
    make_repo(tmp_path / "bad", {"environment.yml": "dependencies: [\n"}, git=False)
    with pytest.raises(InvalidRequest) as info:
        await preview(SourceSpec(path="bad"), root_dir=tmp_path, workdir=tmp_path)
    assert info.value.field == "source"
    assert "environment.yml" in str(info.value)
    assert "Traceback" not in str(info.value)


async def test_repo_label_is_root_relative_and_still_reproduces(tmp_path: Path) -> None:
    """repo2docker.repo names the folder as the API does, never the host's path; the
    reproduce command makes it absolute again from the server root."""
    make_repo(tmp_path / "proj" / "env", {"requirements.txt": "numpy\n"}, git=False)
    for path, subdir, label in (("proj", None, "proj"), ("", "proj", ".")):
        spec = SourceSpec(path=path, subdir=subdir)
        prepared = await prepare_source(
            spec, root_dir=tmp_path, workdir=tmp_path, on_event=lambda e: None
        )
        await asyncio.to_thread(prepared.cleanup)
        assert prepared.labels[labels.R2D_REPO] == label
        assert str(tmp_path) not in json.dumps(prepared.labels)
        command = labels.reproduce_command({**prepared.labels, labels.JOB: "j"}, "x:1", tmp_path)
        assert command is not None and command.endswith(str(tmp_path.resolve() / path))


async def test_a_warning_naming_many_files_is_one_bounded_line(tmp_path: Path) -> None:
    """The repo's own names go into warnings (and from there into logs and answers)."""
    names = {f"binder/{'n' * 150}-{i}.txt": "x\n" for i in range(1000)}
    make_repo(tmp_path / "many", {"binder/requirements.txt": "numpy\n", **names}, git=False)
    result = await preview(SourceSpec(path="many"), root_dir=tmp_path, workdir=tmp_path)
    (warning,) = [w for w in result["warnings"] if w.startswith("Unknown files in binder/")]
    assert len(warning.encode()) <= MAX_LINE + 40
    assert warning.endswith(" more bytes cut]")
