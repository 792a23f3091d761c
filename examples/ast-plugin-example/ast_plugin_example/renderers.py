"""``scanned``: a renderer of its own — another renderer's pages, as if scanned.

Each page is rotated by a small random angle and gets paper noise; the note
heads and systems are moved with it (the rotated box's bounding box), so the
alignment still holds.  It wraps any installed renderer (``inner``), found by
name through the plugin registry — a plugin never imports another one.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ast_toolkit import plugins
from ast_toolkit.errors import ParameterError
from ast_toolkit.interfaces import Renderer
from ast_toolkit.types import NoteHead, RenderedScore, SystemBox


class ScannedRenderer(Renderer):
    """Render with ``inner``, then rotate each page by up to ``max_angle`` degrees and add noise.

    Parameters
    ----------
    page_width, staff_space : int, float
        Passed on to ``inner`` (the core passes them).
    inner : str
        The renderer plugin that engraves.
    max_angle : float
        Largest rotation in degrees (a page's angle is drawn uniformly).
    noise : float
        Standard deviation of the paper noise, in grey levels.
    seed : int
        The angles and noise of a score depend only on the seed and the score.
    """

    def __init__(self, page_width: int = 835, staff_space: float = 7.0, inner: str = "verovio",
                 max_angle: float = 1.5, noise: float = 12.0, seed: int = 0) -> None:
        super().__init__(page_width=page_width, staff_space=staff_space)
        if not 0 <= max_angle <= 10 or noise < 0:
            raise ParameterError("max_angle must be 0..10 degrees and noise >= 0")
        self.inner = plugins.create("renderers", inner, page_width=page_width,
                                    staff_space=staff_space)
        self.max_angle, self.noise, self.seed = float(max_angle), float(noise), int(seed)

    def render(self, score, *, qpm=None) -> RenderedScore:
        clean = self.inner.render(score, qpm=qpm)
        rng = np.random.default_rng([self.seed, sum(map(ord, score.id))])
        pages, turns = [], []
        for page in clean.pages:
            angle = float(rng.uniform(-self.max_angle, self.max_angle))
            image = Image.fromarray(page).rotate(angle, resample=Image.BILINEAR, fillcolor=255)
            noisy = np.asarray(image, np.float32) + rng.normal(0, self.noise, page.shape)
            pages.append(np.clip(noisy, 0, 255).astype(np.uint8))
            turns.append((math.radians(angle), page.shape[1] / 2, page.shape[0] / 2))

        def moved(page: int, box):
            # PIL turns counter-clockwise about the centre; y grows downwards
            a, cx, cy = turns[page]
            xs, ys = [], []
            for x, y in ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3])):
                dx, dy = x - cx, y - cy
                xs.append(cx + dx * math.cos(a) + dy * math.sin(a))
                ys.append(cy - dx * math.sin(a) + dy * math.cos(a))
            return (min(xs), min(ys), max(xs), max(ys))

        heads = [NoteHead(n.id, n.page, n.system, moved(n.page, n.bbox), n.pitch)
                 for n in clean.noteheads]
        systems = [SystemBox(s.index, s.page, moved(s.page, s.bbox)) for s in clean.systems]
        meta = {**clean.meta, "renderer": "scanned", "inner": clean.meta.get("renderer"),
                "angles": [round(math.degrees(t[0]), 3) for t in turns]}
        return RenderedScore(pages, heads, systems, clean.events, meta)
