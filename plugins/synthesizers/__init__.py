"""Synthesizers (``ast.synthesizers``): ``fluidsynth`` plays performed notes with a soundfont."""
