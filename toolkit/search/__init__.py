"""Search: indexes of embedded pieces, DTW kernels, matchers by name, queries, the report.

* :mod:`~ast_toolkit.search.index` — ``ast index``: embedding sequences of whole pieces;
* :mod:`~ast_toolkit.search.dtw` — the compiled DTW kernels;
* :mod:`~ast_toolkit.search.matching` — matchers by name, the prefilter;
* :mod:`~ast_toolkit.search.queries` — ``ast match``: queries and ranked answers;
* :mod:`~ast_toolkit.search.report` — the picture of a match.
"""
