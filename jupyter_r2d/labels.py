"""Names of the labels jupyter_r2d puts on images and containers (one place, shared by all)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

PREFIX = "jupyter_r2d."

#: On images jupyter_r2d built, always this value: a constant, so that an unchanged rebuild
#: gives the very same image (which job built it is in the job records, not in the image).
BUILT_BY = PREFIX + "built_by"
BUILT_BY_VALUE = "jupyter_r2d"

#: On images: where the build came from.
SOURCE = PREFIX + "source"  # folder path relative to the server root, or git URL (no secrets)
REF = PREFIX + "ref"  # git ref asked for ("" for a folder)
COMMIT = PREFIX + "commit"  # resolved git commit ("" when not a git tree)
DIRTY = PREFIX + "dirty"  # "true" when the folder had uncommitted changes
SUBDIR = PREFIX + "subdir"  # subdirectory of the repo that was built
BUILDPACK = PREFIX + "buildpack"  # repo2docker buildpack class name
#: On containers a run started: the job's id (images of older versions carry it too).
JOB = PREFIX + "job"

#: On containers a run started (so containers() and stop() only touch ours).
RUN = PREFIX + "run"  # always "true"
PORT = PREFIX + "port"  # container port the run published
URL_PATH = PREFIX + "url_path"  # path (and token query) of the run's URL
IMAGE = PREFIX + "image"  # image reference the run started

#: repo2docker's own labels, which it puts on the images it builds.
R2D_REPO = "repo2docker.repo"
R2D_REF = "repo2docker.ref"
R2D_VERSION = "repo2docker.version"


def built_by_us(image_labels: dict[str, str]) -> bool:
    """Whether the labels say jupyter_r2d built the image (a claim: any image can carry
    them; enough to decorate or prune a dangling image, never to trust one)."""
    return image_labels.get(BUILT_BY) == BUILT_BY_VALUE or JOB in image_labels


def describe(image_labels: dict[str, str]) -> dict[str, Any] | None:
    """Provenance of an image from its labels; None when neither we nor repo2docker built it.

    ``job`` is what the image's own label says (images of older versions); the job manager
    fills it in from its records for the images it built.
    """
    ours = built_by_us(image_labels)
    if not ours and R2D_VERSION not in image_labels:
        return None
    # repo2docker's own ref label holds the commit it built; ours keeps the ref asked for.
    ref = image_labels.get(REF) if ours else image_labels.get(R2D_REF)
    return {
        "source": image_labels.get(SOURCE) or image_labels.get(R2D_REPO) or None,
        "ref": ref or None,
        "commit": image_labels.get(COMMIT) or None,
        "dirty": image_labels.get(DIRTY) == "true",
        "subdir": image_labels.get(SUBDIR) or None,
        "buildpack": image_labels.get(BUILDPACK) or None,
        "job": image_labels.get(JOB) or None,
        "repo2docker_version": image_labels.get(R2D_VERSION) or None,
    }


def reproduce_command(
    image_labels: dict[str, str], image: str | None, root_dir: str | Path | None = None
) -> str | None:
    """The repo2docker command that rebuilds this image from its source, when one is known.

    A folder source is stored relative to the server root: ``root_dir`` makes it absolute,
    so the command works from anywhere.
    """
    info = describe(image_labels)
    if info is None or not info["source"]:
        return None
    source = info["source"]
    if root_dir is not None and built_by_us(image_labels) and not _is_remote(source):
        source = str(Path(root_dir, source).resolve())
    # Labels are an image's to set: each value is glued to its option and the source comes
    # after "--", so none of them is ever read as an option ("--ref=-x", "-- -source").
    args = ["repo2docker", "--no-run"]
    if image:
        args.append(f"--image-name={image}")
    ref = info["commit"] or info["ref"]
    if ref and not info["dirty"]:
        args.append(f"--ref={ref}")
    if info["subdir"]:
        args.append(f"--subdir={info['subdir']}")
    args += ["--", source]
    return shlex.join(args)


def _is_remote(source: str) -> bool:
    """A git URL (``scheme://`` or ``user@host:path``) rather than a folder."""
    return "://" in source or re.match(r"^[\w.-]+@[\w.-]+:", source) is not None
