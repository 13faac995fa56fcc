"""The README's command for the options prints them all, with their help."""

from __future__ import annotations

import json
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


def _readme_value(text: str) -> object:
    """A default as the README's options table writes it (``"auto"``, ``60``, ``True``...)."""
    if text in ("True", "False"):
        return text == "True"
    return json.loads(text)


def test_the_readme_table_gives_the_defaults_the_options_have() -> None:
    """The table repeats the defaults for readers: they must be the ones the code declares."""
    rows = re.findall(r"^\| (`[^|]+`) \| (`[^|]+`)[^|]* \|", README.read_text(), re.MULTILINE)
    traits = JupyterR2D.class_own_traits(config=True)
    checked = 0
    for names, defaults in rows:
        pairs = zip(
            re.findall(r"`([^`]+)`", names), re.findall(r"`([^`]+)`", defaults), strict=True
        )
        for name, text in pairs:
            if name == "data_dir":
                continue  # computed at start: the table describes it
            assert name in traits, f"the README documents an unknown option {name}"
            assert _readme_value(text) == traits[name].default(), name
            checked += 1
    assert checked >= 15
