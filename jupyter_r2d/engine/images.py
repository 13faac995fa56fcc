"""The image catalog: the daemon's local images as the API shows them, and what may be done
to them (inspect, remove, prune, tag, remove a superseded build)."""

from __future__ import annotations

import builtins
from typing import Any

import docker
from docker.errors import APIError
from docker.errors import NotFound as DockerNotFound
from docker.utils import parse_repository_tag

from .. import labels
from ..errors import Conflict, NotFound
from ..imageref import check_ref
from .daemon import DaemonClient, iso_time


class ImageCatalog:
    """Local images over one :class:`DaemonClient`."""

    def __init__(self, daemon: DaemonClient) -> None:
        self.daemon = daemon

    async def list(self) -> builtins.list[dict[str, Any]]:
        """Local images with decoded jupyter_r2d labels, dangling and in-use flags."""
        return list((await self.catalog())["images"])

    async def catalog(self) -> dict[str, Any]:
        """``{"images": [...], "disk": {"size": bytes}}``: images with their own and shared
        sizes, and what all their layers take on disk, shared layers counted once (the
        daemon's ``/system/df``: the figures ``docker system df`` shows)."""

        def listing(client: docker.APIClient) -> tuple[dict[str, Any], set[str]]:
            in_use = {str(c.get("ImageID")) for c in client.containers(all=True)}
            return _image_df(client), in_use

        usage, in_use = await self.daemon.call(listing)
        images = [_image_entry(item, in_use) for item in usage.get("Images") or []]
        return {"images": images, "disk": {"size": int(usage.get("LayersSize") or 0)}}

    async def inspect_raw(self, ref: str) -> dict[str, Any]:
        """docker inspect of an image; NotFound with a readable message."""
        check_ref(ref)
        try:
            return dict(await self.daemon.call(lambda c: c.inspect_image(ref)))
        except DockerNotFound:
            raise NotFound(f"No image {ref} on this machine") from None

    async def image_id(self, ref: str) -> str:
        """Id of a local image; raises :class:`~jupyter_r2d.errors.NotFound`."""
        data = await self.inspect_raw(ref)
        return str(data["Id"])

    async def current_id(self, ref: str) -> str | None:
        """Id of the local image ``ref`` names now; None when there is none."""
        try:
            return await self.image_id(ref)
        except NotFound:
            return None

    async def tag(self, source: str, target: str) -> None:
        """Tag the local image ``source`` as ``target``; raises NotFound."""
        data = await self.inspect_raw(source)
        repository, tag = parse_repository_tag(target)
        await self.daemon.call(lambda c: c.tag(data["Id"], repository, tag or "latest"))

    async def inspect(self, ref: str) -> dict[str, Any]:
        """The inspect view: config, labels, layer history with sizes, repo digests."""
        data = await self.inspect_raw(ref)
        history = await self.daemon.call(lambda c: c.history(data["Id"]))
        config = data.get("Config") or {}
        image_labels = config.get("Labels") or {}
        tags = data.get("RepoTags") or []
        return {
            "id": data["Id"],
            "tags": tags,
            "digests": data.get("RepoDigests") or [],
            "created": data.get("Created"),
            "size": data.get("Size"),
            "architecture": data.get("Architecture"),
            "os": data.get("Os"),
            "config": {
                "env": config.get("Env") or [],
                "cmd": config.get("Cmd"),
                "entrypoint": config.get("Entrypoint"),
                "workdir": config.get("WorkingDir") or "",
                "user": config.get("User") or "",
                "exposed_ports": sorted((config.get("ExposedPorts") or {}).keys()),
            },
            "labels": image_labels,
            "r2d": labels.describe(image_labels),
            "history": [
                {
                    "created": iso_time(layer.get("Created")),
                    "created_by": layer.get("CreatedBy") or "",
                    "size": layer.get("Size") or 0,
                    "comment": layer.get("Comment") or "",
                }
                for layer in history
            ],
        }

    async def remove(self, ref: str) -> None:
        """Remove an image (or one of its tags); a clear Conflict when a container uses it."""
        data = await self.inspect_raw(ref)
        users = await self.daemon.call(
            lambda c: c.containers(all=True, filters={"ancestor": data["Id"]})
        )
        users = [u for u in users if u.get("ImageID") == data["Id"]]
        tags = data.get("RepoTags") or []
        untag_only = ref in tags and len(tags) > 1
        if users and not untag_only:
            names = ", ".join(
                f"{(u.get('Names') or ['?'])[0].lstrip('/')} ({u.get('State')})" for u in users
            )
            raise Conflict(f"Image {ref} is in use by container {names}: stop and remove it first")
        try:
            await self.daemon.call(lambda c: c.remove_image(ref))
        except DockerNotFound:
            raise NotFound(f"No image {ref} on this machine") from None
        except APIError as err:
            if err.status_code == 409:
                raise Conflict(f"Image {ref} cannot be removed: {err.explanation}") from None
            raise

    async def prune(self, dry_run: bool = False) -> dict[str, Any]:
        """Remove dangling images that jupyter_r2d built (``dry_run``: only list them):
        ``{dry_run, removed, skipped, space_reclaimed}``.

        An entry's size, and so ``space_reclaimed``, is the image's own layers: what its
        removal frees (layers it shares with other images stay).
        """
        catalog = await self.catalog()
        found = [i for i in catalog["images"] if i["dangling"] and labels.built_by_us(i["labels"])]
        removed: builtins.list[dict[str, Any]] = []
        skipped: builtins.list[dict[str, Any]] = []
        for item in found:
            entry = {"id": item["id"], "size": item["unique_size"]}
            if item["in_use"]:
                skipped.append({**entry, "reason": "in use by a container"})
                continue
            if not dry_run:
                try:
                    await self.daemon.call(lambda c, i=item["id"]: c.remove_image(i))
                except APIError as err:
                    skipped.append({**entry, "reason": str(err.explanation or err)})
                    continue
            removed.append(entry)
        return {
            "dry_run": dry_run,
            "removed": removed,
            "skipped": skipped,
            "space_reclaimed": sum(e["size"] for e in removed),
        }

    async def remove_superseded(self, image_id: str) -> bool:
        """Remove the image ``image_id`` if jupyter_r2d built it, no tag names it and no
        container (running or not) uses it; whether it was removed. (A rebuild moved its
        tag away.)"""

        def remove(client: docker.APIClient) -> bool:
            try:
                data = client.inspect_image(image_id)
            except DockerNotFound:
                return False
            tags = [t for t in data.get("RepoTags") or [] if t != "<none>:<none>"]
            if tags or not labels.built_by_us((data.get("Config") or {}).get("Labels") or {}):
                return False
            users = client.containers(all=True, filters={"ancestor": data["Id"]})
            if any(u.get("ImageID") == data["Id"] for u in users):
                return False
            try:
                # By id and without force: the daemon refuses if a tag or container came
                # meanwhile, or child images depend on it.
                client.remove_image(data["Id"])
            except APIError:
                return False
            return True

        return bool(await self.daemon.call(remove))


def _image_df(client: docker.APIClient) -> dict[str, Any]:
    """``GET /system/df?type=image``: images with SharedSize, and LayersSize (older daemons
    ignore ``type`` and answer with containers and volumes too)."""
    response = client._get(client._url("/system/df"), params={"type": "image"})
    return dict(client._result(response, True))


def _image_entry(item: dict[str, Any], in_use: set[str]) -> dict[str, Any]:
    tags = [t for t in item.get("RepoTags") or [] if t != "<none>:<none>"]
    digests = [d for d in item.get("RepoDigests") or [] if not d.startswith("<none>")]
    item_labels = item.get("Labels") or {}
    size = int(item.get("Size") or 0)
    shared = max(int(item.get("SharedSize") or 0), 0)  # -1: not computed
    return {
        "id": item["Id"],
        "tags": tags,
        "digests": digests,
        "created": iso_time(item.get("Created")),
        "size": size,
        # Layers shared with other images, and the image's own: what removing it frees.
        "shared_size": shared,
        "unique_size": size - shared,
        "labels": item_labels,
        "r2d": labels.describe(item_labels),
        "dangling": not tags,
        "in_use": item["Id"] in in_use,
    }
