"""ast: cross-modal retrieval between music recordings and images of sheet music.

Installed as ``ast_toolkit``.  The core: small shared modules at the top —
interfaces (:mod:`~ast_toolkit.interfaces`), plain data
(:mod:`~ast_toolkit.types`), errors (:mod:`~ast_toolkit.errors`), plugin
discovery (:mod:`~ast_toolkit.plugins`), typed configuration
(:mod:`~ast_toolkit.config`), named datasets and models
(:mod:`~ast_toolkit.catalog`), files (:mod:`~ast_toolkit.io`), progress
(:mod:`~ast_toolkit.progress`), pictures (:mod:`~ast_toolkit.plotting`) and
references (:mod:`~ast_toolkit.references`) — and one package per stage of the
pipeline: :mod:`~ast_toolkit.data`, :mod:`~ast_toolkit.learn`,
:mod:`~ast_toolkit.search`, :mod:`~ast_toolkit.evaluation`, and the command
line, :mod:`~ast_toolkit.cli`.  The core never imports a plugin module:
plugins are found through entry points.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ast-toolkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .errors import ToolkitError  # noqa: E402

__all__ = ["__version__", "ToolkitError"]
