"""Evaluation: the metric base, snippet retrieval, piece identification, pictures.

* :mod:`~ast_toolkit.evaluation.retrieval` — the base of retrieval metrics (ties pessimistic);
* :mod:`~ast_toolkit.evaluation.scores` — ``ast eval scores``: a CSV of scores;
* :mod:`~ast_toolkit.evaluation.snippets` — ``ast eval snippets``;
* :mod:`~ast_toolkit.evaluation.pieces` — ``ast eval pieces|fragments|scale``;
* :mod:`~ast_toolkit.evaluation.figures` — their pictures.
"""
