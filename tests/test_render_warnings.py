"""Preview warnings through the HTTP API, as ``repo2docker --no-build`` would print them:
repo2docker's own notices while it detects and renders, and no false alarms."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import make_repo
from test_api_builds import call
from tornado.httpclient import HTTPClientError

from jupyter_r2d.render import MAX_NOTICES, NOTICE_BYTES, _NoticeHandler


async def preview(jp_fetch, path: str) -> dict[str, object]:
    code, result, _ = await call(
        jp_fetch, "preview", method="POST", body={"source": {"path": path}}
    )
    assert code == 200
    return result


async def test_scripts_that_are_not_executable_are_no_warning(jp_fetch, jp_root_dir: Path) -> None:
    """repo2docker runs ``chmod +x`` on postBuild and start itself (since 2018)."""
    files = {"binder/requirements.txt": "numpy\n", "binder/postBuild": "echo hi\n"}
    make_repo(jp_root_dir / "scripts", {**files, "binder/start": 'exec "$@"\n'})
    result = await preview(jp_fetch, "scripts")
    assert not [w for w in result["warnings"] if "executable" in w], result["warnings"]


@pytest.mark.parametrize(
    ("files", "notice"),
    [
        ({"requirements.txt": "numpy\n"}, "Python version unspecified, using Python version 3."),
        (
            {"environment.yml": "dependencies:\n  - python=2.7\n  - numpy\n"},
            "User-requested packages for legacy Python version 2.7 will be installed in a "
            "separate kernel environment in $KERNEL_PYTHON_PREFIX. Jupyter Server will run",
        ),
    ],
    ids=["python-unspecified", "legacy-kernel"],
)
async def test_repo2docker_notices_are_warnings(
    jp_fetch, jp_root_dir: Path, files: dict[str, str], notice: str
) -> None:
    make_repo(jp_root_dir / "notices", files, git=False)
    result = await preview(jp_fetch, "notices")
    assert [w for w in result["warnings"] if w.startswith(notice)], result["warnings"]


async def test_what_repo2docker_said_before_failing_is_in_the_error(
    jp_fetch, jp_root_dir: Path
) -> None:
    make_repo(jp_root_dir / "legacy", {"Dockerfile": "FROM andrewosh/binder-base\n"}, git=False)
    with pytest.raises(HTTPClientError) as info:
        await call(jp_fetch, "preview", method="POST", body={"source": {"path": "legacy"}})
    assert info.value.code == 400
    assert info.value.response is not None
    message = json.loads(info.value.response.body)["message"]
    assert "legacy buildpack was removed in January 2020" in message
    assert "https://repo2docker.readthedocs.io/" in message


def test_notices_are_bounded_in_count_and_length() -> None:
    notices: list[str] = []
    handler = _NoticeHandler(notices)
    logger = logging.getLogger("jupyter_r2d.test.notices")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("x" * 100_000)
        logger.warning("twice\nover two lines")
        logger.warning("twice over   two lines")
        logger.info("not a warning")
        logger.warning("%s %s", "a format with too few arguments")
        for i in range(3 * MAX_NOTICES):
            logger.warning("notice %d", i)
    finally:
        logger.removeHandler(handler)
    assert len(notices) == MAX_NOTICES
    assert len(notices[0].encode()) <= NOTICE_BYTES + 40 and notices[0].endswith("cut]")
    assert notices[1:3] == ["twice over two lines", "%s %s"]
