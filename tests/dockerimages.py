"""Building small test images straight with docker-py (the engine is not under test there)."""

from __future__ import annotations

import io
import tarfile

import docker


def build_image(client: docker.APIClient, dockerfile: str, tag: str) -> None:
    """Build ``dockerfile`` (no other context) as ``tag``."""
    data = dockerfile.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    stream = client.build(fileobj=buffer, custom_context=True, tag=tag, rm=True, decode=True)
    for chunk in stream:
        assert "error" not in chunk, chunk
