"""Datasets (``ast.datasets``): ``rendered`` reads the folders ``ast data render`` writes."""
