"""
Load the repository's custom salt modules as plain Python, for unit tests (``load``), or
through salt's own loader, as a minion does, for functional tests (``salt_loaded``).
"""

import collections.abc
import importlib.util

import salt.config
import salt.loader

from tests.common.paths import REPO


def load(relpath, dunders=None):
    """
    Import ``relpath`` (e.g. ``_pillar/jupyterhub_deploy.py``) and set salt dunders on it.
    A module of ``_modules/`` and the like gets a :class:`Utils` as ``__utils__`` unless
    ``dunders`` has one, as salt's loader gives it one.
    """
    path = REPO / relpath
    name = "jhd_" + path.parent.name.strip("_") + "_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dunders = dict(dunders or {})
    if path.parent.name.startswith("_") and path.parent.name != "_utils":
        dunders.setdefault("__utils__", Utils())
    for key, value in dunders.items():
        setattr(module, key, value)
    return module


class Utils(collections.abc.Mapping):
    """
    ``_utils/*.py`` loaded as plain Python, as ``__utils__`` holds them:
    ``utils["backup_duplicity.parse_log"]``, public functions only. A function is looked up
    on its module at each use, so a test may replace one there (``utils.modules[name]``).
    """

    def __init__(self):
        self.modules = {
            path.stem: load(path.relative_to(REPO)) for path in sorted(REPO.glob("_utils/*.py"))
        }

    def __getitem__(self, key):
        module, _, function = key.partition(".")
        value = getattr(self.modules.get(module), function, None)
        if function.startswith("_") or not callable(value) or isinstance(value, type):
            raise KeyError(key)
        return value

    def __iter__(self):
        for name, module in self.modules.items():
            for function in dir(module):
                if f"{name}.{function}" in self:
                    yield f"{name}.{function}"

    def __len__(self):
        return sum(1 for _ in self)


def minion_opts(tmp_path, **overrides):
    """A masterless minion's opts, its cache (and extension modules) under ``tmp_path``."""
    opts = salt.config.minion_config(None)
    opts.update({"id": "hub", "file_client": "local", "cachedir": str(tmp_path), "grains": {}})
    opts["extension_modules"] = str(tmp_path / "extmods")
    opts.update(overrides)
    return opts


def checkout_opts(tmp_path):
    """:func:`minion_opts` that load ``_modules/`` and ``_utils/`` from this checkout."""
    return minion_opts(
        tmp_path, module_dirs=[str(REPO / "_modules")], utils_dirs=[str(REPO / "_utils")]
    )


class Loaded:
    """
    The execution module ``name`` as salt's loader loaded it: its functions as attributes,
    the pillar and ``__context__`` it was given, and the loader (``functions``), in which a
    test may replace another module's function (``functions["mine.get"] = ...``).
    """

    def __init__(self, name, functions, pillar, context):
        self.name, self.functions = name, functions
        self.__pillar__, self.__context__ = pillar, context

    def __getattr__(self, function):
        key = f"{self.name}.{function}"
        try:
            return self.functions[key]
        except KeyError:
            raise AttributeError(self.functions.missing_fun_string(key)) from None


def salt_loaded(name, opts, pillar):
    """
    ``name`` through salt's loaders: the utils loader (``__utils__``) and the execution
    modules, from ``opts``' module_dirs and utils_dirs and its extension_modules (where
    ``saltutil.sync_all`` puts them). ``pillar`` is the dict the module reads, not a copy.
    """
    context = {}
    utils = salt.loader.utils(opts, context=context)
    functions = salt.loader.minion_mods(
        opts, context=context, utils=utils, whitelist=[name], pillar=pillar
    )
    return Loaded(name, functions, pillar, context)
