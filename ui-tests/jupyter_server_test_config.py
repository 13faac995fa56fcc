"""Server configuration for the jupyter_r2d Galata tests.

Galata's ``configure_jupyter_server`` sets a known token, disables the browser,
and prepares the server for Galata's contents helpers. The notebook root is a
temporary folder under ``ui-tests/`` (removed at the start of each run) so tests
can create repositories there; jupyter_r2d is enabled explicitly.
"""

import os
import shutil
from pathlib import Path

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # type: ignore[name-defined]  # noqa: F821

configure_jupyter_server(c)
_here = Path(__file__).parent

# It made a temporary root, workspaces folder and shell rc file in /tmp that nothing
# removes: leave no trace of them; ours live below, under ui-tests/ (removed each run).
_galata_root = Path(c.ServerApp.root_dir)
if _galata_root.name.startswith("galata-test-"):
    shutil.rmtree(_galata_root, ignore_errors=True)
_galata_workspaces = Path(c.LabApp.workspaces_dir)
if _galata_workspaces.name.startswith("galata-workspaces-"):
    shutil.rmtree(_galata_workspaces, ignore_errors=True)
_workspaces = _here / ".workspaces"
shutil.rmtree(_workspaces, ignore_errors=True)
_workspaces.mkdir()
c.LabApp.workspaces_dir = str(_workspaces)
_shell = list(c.ServerApp.terminado_settings["shell_command"])
_rcfile = _here / ".bashrc"
shutil.move(_shell[-1], _rcfile)
c.ServerApp.terminado_settings = {"shell_command": [*_shell[:-1], str(_rcfile)]}

_root = Path(os.environ.get("R2D_UI_ROOT", _here / ".jupyter_root"))
shutil.rmtree(_root, ignore_errors=True)
_root.mkdir(parents=True, exist_ok=True)
c.ServerApp.root_dir = str(_root)
c.ServerApp.jpserver_extensions = {"jupyter_r2d": True}
c.LabApp.expose_app_in_browser = True
c.ServerApp.allow_root = True  # the test bed runs as root

# Keep the job history of the UI tests apart from the user's.
_data = Path(os.environ.get("R2D_UI_DATA", _here / ".r2d_data"))
shutil.rmtree(_data, ignore_errors=True)
c.JupyterR2D.data_dir = str(_data)

# The test bed's open registry, configured by name (the auth registry is typed inline).
_open_registry = os.environ.get("R2D_TEST_REGISTRY", "127.0.0.1:5555")
c.JupyterR2D.registries = {"testbed": {"server": _open_registry}}
