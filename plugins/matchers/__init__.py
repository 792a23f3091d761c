"""Matchers (``ast.matchers``): ``vote``, ``shazam``, ``dtw`` and ``sdtw``."""
