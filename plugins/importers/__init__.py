"""Checkpoint importers (``ast.importers``): ``ucasr``."""
