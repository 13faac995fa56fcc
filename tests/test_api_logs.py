"""What a job's log says, through the HTTP API, against the real daemon, buildx and registry:
push progress in bytes, a step's lines in the builder's order, BuildKit's log limits."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import make_repo
from dockerimages import build_image

from jupyter_r2d.engine.progress import LOG_LIMIT_NOTICE

pytestmark = [pytest.mark.docker]


@pytest.fixture
def jp_server_config() -> dict[str, object]:
    """The buildx engine (its docker driver pushes through the daemon, as docker-api does)."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_r2d": True}},
        "JupyterR2D": {"engine_kind": "buildx"},
    }


async def start_job(jp_fetch, body: dict[str, Any]) -> str:
    response = await jp_fetch("r2d", "api", "builds", method="POST", body=json.dumps(body))
    assert response.code == 202
    return str(json.loads(response.body)["id"])


async def build_folder(jp_fetch, read_events, root: Path, dockerfile: str, image: str) -> list:
    """Build a folder holding ``dockerfile`` (its first line made unique: no cache hit)."""
    name = f"logs-{uuid.uuid4().hex[:8]}"
    make_repo(root / name, {"Dockerfile": dockerfile.replace("{unique}", name)}, git=False)
    events = await read_events(
        await start_job(jp_fetch, {"source": {"path": name}, "image": image})
    )
    assert events[-1]["phase"] == "ready", events[-1]
    return events


async def test_push_progress_is_bytes_never_above_the_total_and_ends_complete(
    jp_fetch, read_events, registry, base_image, unique_name, docker_client, cleanup_images
):
    """A layer of 3 MB and one of a few bytes: the daemon counts the tar stream against the
    files' size (4096 of 3 bytes); the events never say more than the whole."""
    image = f"{registry.address}/{unique_name}:progress"
    dockerfile = (
        f"FROM {base_image}\n"
        "RUN head -c 3000000 /dev/urandom > /blob\n"
        f"RUN echo {unique_name} > /tiny\n"
    )
    build_image(docker_client, dockerfile, image)
    cleanup_images.append(image)
    events = await read_events(await start_job(jp_fetch, {"image": image, "push": True}))
    assert events[-1]["phase"] == "ready", events[-1]
    pushing = [e for e in events if e["phase"] == "pushing"]
    progress = [e["progress"] for e in pushing if "progress" in e]
    assert progress, pushing
    for p in progress:
        assert p["kind"] == "bytes" and 0 <= p["current"] <= p["total"], p
    assert any(p["current"] < p["total"] for p in progress)  # seen in flight
    assert progress[-1]["current"] == progress[-1]["total"] >= 3_000_000  # nothing left
    assert pushing[-1]["message"].startswith("Pushed ") and "progress" in pushing[-1]
    # Lines say how far in bytes with units, not as bare counts.
    assert any(e["message"].endswith(" MB") and " / " in e["message"] for e in pushing)
    assert registry.digest(unique_name, "progress") == events[-1]["digest"]


async def test_a_steps_stdout_and_stderr_keep_the_order_they_were_written_in(
    jp_fetch, read_events, jp_root_dir, base_image, unique_name, cleanup_images
):
    image = f"{unique_name}:order"
    cleanup_images.append(image)
    # BuildKit stamps a chunk when it reads it, its two pipes apart: writes microseconds
    # apart can be stamped either way, so each waits a little for the one before.
    dockerfile = (
        f"FROM {base_image}\n"
        "RUN echo {unique} && sh -c 'for i in 1 2 3 4 5; do echo out$i; sleep 0.05; "
        "echo err$i >&2; sleep 0.05; done'\n"
        # A line begun on stdout, a line on stderr, then stdout's line ends.
        "RUN sh -c 'printf partial; sleep 0.3; echo whole >&2; sleep 0.3; echo \" rest\"'\n"
    )
    events = await build_folder(jp_fetch, read_events, jp_root_dir, dockerfile, image)
    lines = [e["message"] for e in events if e["phase"] == "building"]
    written = [line for line in lines if line[:3] in ("out", "err") and line[3:].isdigit()]
    assert written == [f"{s}{i}" for i in range(1, 6) for s in ("out", "err")], lines
    assert lines.index("whole") < lines.index("partial rest"), lines


async def test_output_cut_by_buildkit_gets_a_notice_on_how_to_lift_the_limit(
    jp_fetch, read_events, jp_root_dir, base_image, unique_name, cleanup_images
):
    image = f"{unique_name}:clipped"
    cleanup_images.append(image)
    # 2.7 MB at once: past BuildKit's 2 MiB, and its 200 KiB/s long before.
    dockerfile = f"FROM {base_image}\nRUN echo {{unique}} && seq 1 400000\n"
    events = await build_folder(jp_fetch, read_events, jp_root_dir, dockerfile, image)
    notices = [e for e in events if e.get("notice") == LOG_LIMIT_NOTICE]
    assert notices, [e["message"] for e in events[-20:]]
    notice = notices[0]  # (a slow step may be let through and cut again: more notices)
    assert notice["phase"] == "building"
    assert "log limit" in notice["message"]
    for name in ("BUILDKIT_STEP_LOG_MAX_SIZE", "BUILDKIT_STEP_LOG_MAX_SPEED", "docker-api"):
        assert name in notice["message"]
    # At the point of the cut: after the last number BuildKit kept, before the step ended.
    before = events[events.index(notice) - 1]["message"]
    assert before == "" or before.isdigit(), before
    assert not any("[output clipped" in e["message"] for e in events)
