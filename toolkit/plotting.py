"""Pictures: matplotlib without a screen, and PNG files written atomically.

Every stage draws its own pictures (``data/figures.py``, ``search/report.py``,
``evaluation/figures.py``); they share these two helpers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .io import atomic_path

__all__ = ["pyplot", "save_figure"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no screen needed).

    Examples
    --------
    >>> pyplot().get_backend().lower()
    'agg'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, out: str | os.PathLike, *, dpi: int | None = None,
                tight: bool = True) -> Path:
    """Write ``fig`` as PNG to a temporary name, then rename; close it.

    Examples
    --------
    >>> import tempfile
    >>> fig = pyplot().figure(figsize=(2, 1))
    >>> path = save_figure(fig, Path(tempfile.mkdtemp()) / "empty.png")
    >>> path.read_bytes()[:4]
    b'\\x89PNG'
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi or fig.dpi, bbox_inches="tight" if tight else None, format="png")
    pyplot().close(fig)
    return out
