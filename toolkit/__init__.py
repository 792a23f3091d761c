"""ast: cross-modal retrieval between music recordings and images of sheet music.

The core: interfaces (:mod:`toolkit.interfaces`), plain data (:mod:`toolkit.types`),
plugin discovery (:mod:`toolkit.plugins`), named datasets and models
(:mod:`toolkit.registry`) and the ``ast`` command line (:mod:`toolkit.cli`).
The core never imports a plugin module: plugins are found through entry points.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ast-toolkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .errors import ToolkitError  # noqa: E402

__all__ = ["__version__", "ToolkitError"]
