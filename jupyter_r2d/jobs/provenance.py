"""What the job records say about images and containers: which job built an image, which
containers are ours. A record is ours alone; an image or container can carry any label."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import NotFound


def builders(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Image id -> id of the newest job that built it (the image itself does not say:
    an unchanged rebuild gives the same image, whichever job built it)."""
    built: dict[str, str] = {}
    for record in sorted(records, key=lambda r: (r["created"], r["id"])):
        if record.get("status") == "succeeded" and record.get("image_id"):
            built[str(record["image_id"])] = record["id"]
    return built


def add_job(image: dict[str, Any], built: dict[str, str]) -> None:
    """Fill in ``r2d.job`` of an image of ours (an engine's view of it) from ``built``."""
    info = image.get("r2d")
    if isinstance(info, dict) and (job_id := built.get(str(image.get("id")))):
        info["job"] = job_id


def run_containers(records: Iterable[dict[str, Any]]) -> set[str]:
    """Ids of the containers runs started, as the job records hold them: the one proof
    that a container is ours (an image can carry our labels; a record is ours alone)."""
    return {
        str(container["id"])
        for record in records
        if isinstance(container := record.get("container"), dict) and container.get("id")
    }


def our_container(ours: set[str], container_id: str) -> str:
    """The full id of one of ``ours`` given as its id or a 12+ digit prefix of it;
    NotFound for any other container, whatever labels it carries."""
    if container_id in ours:
        return container_id
    prefixed = [i for i in ours if len(container_id) >= 12 and i.startswith(container_id)]
    if len(prefixed) != 1:
        raise NotFound(f"No container {container_id} started by jupyter_r2d")
    return prefixed[0]
