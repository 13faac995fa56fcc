"""Names of the labels jupyter_r2d puts on images and containers (one place, shared by all)."""

from __future__ import annotations

PREFIX = "jupyter_r2d."

#: On images: where the build came from.
SOURCE = PREFIX + "source"  # folder path relative to the server root, or git URL (no secrets)
REF = PREFIX + "ref"  # git ref asked for ("" for a folder)
COMMIT = PREFIX + "commit"  # resolved git commit ("" when not a git tree)
DIRTY = PREFIX + "dirty"  # "true" when the folder had uncommitted changes
SUBDIR = PREFIX + "subdir"  # subdirectory of the repo that was built
BUILDPACK = PREFIX + "buildpack"  # repo2docker buildpack class name
JOB = PREFIX + "job"  # id of the build job that made the image / started the container

#: On containers a run started (so containers() and stop() only touch ours).
RUN = PREFIX + "run"  # always "true"
URL = PREFIX + "url"  # URL the run published (with its token)
IMAGE = PREFIX + "image"  # image reference the run started

#: repo2docker's own labels, which it puts on the images it builds.
R2D_REPO = "repo2docker.repo"
R2D_REF = "repo2docker.ref"
R2D_VERSION = "repo2docker.version"
