"""Metrics (``ast.metrics``): ``recall@k``, ``mrr``, ``median-rank`` and ``mean-rank``."""
