"""pytest, for the whole tree: doctests import the installed modules.

The folders ``toolkit/`` and ``plugins/`` are installed under the import names
``ast_toolkit`` and ``ast_toolkit_plugins`` (``pyproject.toml``, ``package-dir``).
``pytest --doctest-modules`` names a module after its folder
(``toolkit.data.build``); this finder makes such a name the installed module
itself, so that doctests run against the one copy of the code that plugins and
entry points use (two copies would hold two sets of interface classes, and a
plugin would implement only one of them).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

#: folder name -> installed import name
_INSTALLED = {"toolkit": "ast_toolkit", "plugins": "ast_toolkit_plugins"}


class _InstalledNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``toolkit.x.y`` is ``ast_toolkit.x.y``; ``plugins.x`` is ``ast_toolkit_plugins.x``."""

    def find_spec(self, fullname: str, path=None, target=None):
        head, _, rest = fullname.partition(".")
        if head not in _INSTALLED:
            return None
        real = importlib.import_module(_INSTALLED[head] + ("." + rest if rest else ""))
        spec = importlib.util.spec_from_loader(fullname, self, origin=real.__spec__.origin)
        spec.loader_state = (real, real.__spec__)
        return spec

    def create_module(self, spec) -> ModuleType:
        return spec.loader_state[0]

    def exec_module(self, module: ModuleType) -> None:
        # the import system gave the module the alias's spec: give it back its own
        module.__spec__ = module.__spec__.loader_state[1]


sys.meta_path.insert(0, _InstalledNames())
