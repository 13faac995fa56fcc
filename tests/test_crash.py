"""A server killed with SIGKILL: what any viewer saw of a log is in the log after restart.

A real Jupyter server in a child process builds for real; a viewer follows the build's
events and kills the server the moment it receives a given line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
import requests
from conftest import make_repo, parse_sse
from servers import jupyter_server

pytestmark = [pytest.mark.docker]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_line_a_viewer_saw_is_in_the_log_after_sigkill(
    tmp_path, base_image, unique_name, cleanup_images
):
    prefix = f"r2d-seen-{uuid.uuid4().hex[:12]}"
    line = f"{prefix}-42"  # the shell computes 42: the command itself does not match
    root, data = tmp_path / "root", tmp_path / "data"
    dockerfile = f"FROM {base_image}\nRUN echo {prefix}-$((6*7)) && sleep 120\n"
    make_repo(root / "proj", {"Dockerfile": dockerfile}, git=False)
    image = f"{unique_name}:crash"
    cleanup_images.append(image)

    children: list[int] = []
    with jupyter_server(tmp_path, root, data, name="first") as first:
        body = {"source": {"path": "proj"}, "image": image}
        job_id = first.request("POST", "r2d/api/builds", json=body).json()["id"]
        seen = None
        text = ""
        path = f"r2d/api/builds/{job_id}/events"
        with requests.get(first.url(path), headers=first.headers, stream=True, timeout=120) as r:
            for chunk in r.iter_content(chunk_size=None):
                events, _, text = parse_sse(text + chunk.decode())
                seen = next((e for e in events if line in str(e["message"])), None)
                if seen is not None:
                    children = first.children()
                    work = data / "jobs" / job_id / "work"
                    held = sorted(p.name for p in work.iterdir())
                    first.kill()
                    break
        assert seen is not None, "the build never printed the line"
        # The running job's scratch (its context tar) is in its own folder of the data dir.
        assert any(name.startswith("context-") for name in held), held

    try:
        with jupyter_server(tmp_path, root, data, name="second") as second:
            record = second.request("GET", f"r2d/api/builds/{job_id}").json()
            assert record["status"] == "interrupted"
            replay = parse_sse(second.request("GET", path).text)[0]
            assert seen in replay
            assert replay[-1]["status"] == "interrupted"
            # What the killed server's job held on disk is gone with the restart.
            assert not work.exists()
            # Nothing the dead server started lives on (the restart stops its build).
            deadline = time.monotonic() + 15
            while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not [pid for pid in children if _alive(pid)]
    finally:
        for pid in children:  # never leave them behind, even when the test failed
            if _alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
