"""Renderers (``ast.renderers``): ``verovio`` and ``lilypond`` engrave a score and perform it."""
