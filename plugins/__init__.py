"""The plugins bundled with ``ast``, one subpackage per interface.

Installed as ``ast_toolkit_plugins``.  They are registered in the toolkit's
own ``pyproject.toml`` exactly as a third party registers its plugins, and
import only the core's public names (``ast_toolkit``); the core never imports
them.
"""
