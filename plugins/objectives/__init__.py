"""Objectives (``ast.objectives``): ``ranking``, ``cca``, ``dcca`` and ``infonce``."""
