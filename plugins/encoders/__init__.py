"""Encoders (``ast.encoders``): ``cnn``, ``attention``, ``timm`` and ``dcca``."""
