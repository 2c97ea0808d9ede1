"""Load the repository's custom salt modules as plain Python, for unit tests."""

import importlib.util

from tests.conftest import REPO


def load(relpath, dunders=None):
    """Import ``relpath`` (e.g. ``_pillar/jupyterhub_deploy.py``) and set salt dunders on it."""
    path = REPO / relpath
    name = "jhd_" + path.parent.name.strip("_") + "_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for key, value in (dunders or {}).items():
        setattr(module, key, value)
    return module
