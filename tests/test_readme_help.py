"""The README's command for the options prints them all, with their help."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from jupyter_r2d.app import JupyterR2D

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_command_lists_every_option() -> None:
    match = re.search(r"`([^`]+)`\s+lists them all", README.read_text())
    assert match is not None, "the README names no command that lists the options"
    command = " ".join(match[1].split())
    # As a user runs it, in the environment jupyter_r2d is installed in.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    out = subprocess.run(  # noqa: S602 - the README's command as a user types it (pipes too)
        command,
        shell=True,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    options = JupyterR2D.class_own_traits(config=True)
    assert len(options) > 10
    for name, trait in options.items():
        assert f"--JupyterR2D.{name}=" in out, (command, name, out[-2000:])
        first_words = " ".join(trait.help.split()[:4])
        assert first_words in " ".join(out.split()), (name, first_words)
