"""Default image names: one rule (``SourceSpec.default_image_name``), which the build form
mirrors; tests/image_names.json holds the cases both sides are tested against."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import make_repo
from gitservers import ServerOptions, git, git_http, publish
from test_api_builds import call, wait_finished

from jupyter_r2d.imageref import parse_image_reference
from jupyter_r2d.sources import SourceSpec

#: Shared with the build form's Galata test (ui-tests/tests/form.spec.ts).
CASES = json.loads((Path(__file__).parent / "image_names.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["image"])
def test_default_image_name(case: dict[str, Any]) -> None:
    name = SourceSpec.from_json(case["source"]).default_image_name()
    assert name == case["image"]
    assert parse_image_reference(name).tag  # always a valid, tagged reference


@pytest.mark.docker
async def test_git_tag_and_commit_name_the_tag(
    jp_fetch, tmp_path: Path, base_image: str, cleanup_images: list[str]
) -> None:
    """A build without an image name, of a git tag or commit, is tagged with that ref."""
    repo = f"quiz-{uuid.uuid4().hex[:8]}"
    work = make_repo(tmp_path / "work", {"Dockerfile": f"FROM {base_image}\nCOPY . /src\n"})
    git(work, "tag", "v1.0")
    commit = git(work, "rev-parse", "HEAD")
    root = tmp_path / "served"
    root.mkdir()
    publish(work, root, f"{repo}.git")
    with git_http(ServerOptions(root)) as server:
        for ref, image in (("v1.0", f"{repo}:v1.0"), (commit, f"{repo}:{commit[:7]}")):
            cleanup_images.append(image)
            source = {"url": server.url(f"{repo}.git"), "ref": ref}
            code, record, _ = await call(jp_fetch, "builds", method="POST", body={"source": source})
            assert code == 202
            assert record["image"] == image
            record = await wait_finished(jp_fetch, record["id"])
            assert record["status"] == "succeeded", record
            assert record["image"] == image
            code, _, _ = await call(jp_fetch, "images", image)
            assert code == 200
