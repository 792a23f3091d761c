"""Opening datasets: the one place that turns a folder into a :class:`~ast_toolkit.interfaces.Dataset`.

A dataset folder names the plugin that reads it in its ``dataset.json``
(``"plugin"``); :func:`open_dataset` opens it with that plugin, cut to an
encoder's window and excerpt sizes, and checks that the encoder can take its
spectrograms.  Training, snippet evaluation, indexing, matching and the
pictures all open datasets here and use them only through the interface.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import plugins
from ..catalog import Registry, resolve_dataset_dir
from ..errors import (IntegrityError, ParameterError, PluginLoadError, UnknownNameError,
                      did_you_mean)
from ..interfaces import Dataset
from .. import schemas
from ..io import read_json
from .build import FORMAT
from .spectrogram import n_bins

__all__ = ["METADATA", "reader_of", "dataset_plugin", "open_dataset", "check_fits",
           "dataset_of_model", "resolve_piece", "dataset_report"]

#: The file of a dataset folder that names its plugin.
METADATA = "dataset.json"


def reader_of(fmt: str) -> str:
    """The installed dataset plugin that reads folders of format ``fmt``.

    Plugins declare the toolkit-written format they read with the class
    attribute :attr:`~ast_toolkit.interfaces.Dataset.reads`; the first such
    plugin (by name) is taken.

    Examples
    --------
    >>> from ast_toolkit.data.build import FORMAT
    >>> plugins.load("datasets", reader_of(FORMAT)).reads == FORMAT
    True
    """
    for name in plugins.names("datasets"):
        try:
            cls = plugins.load("datasets", name)
        except PluginLoadError:
            continue  # a broken plugin reads nothing; `ast plugins list` shows why
        if cls.reads == fmt:
            return name
    raise ParameterError(f"no installed dataset plugin reads {fmt!r} folders "
                         "(`ast plugins list -g datasets` shows what is installed)")


def dataset_plugin(root: str | os.PathLike) -> str:
    """The name of the dataset plugin that reads the folder ``root`` (from its ``dataset.json``).

    Examples
    --------
    >>> import tempfile
    >>> from ast_toolkit.io import write_json
    >>> root = Path(tempfile.mkdtemp())
    >>> write_json(root / METADATA, {"name": "scans", "plugin": "arrays"})
    >>> dataset_plugin(root)  # the name is read, not checked: open_dataset checks it
    'arrays'
    >>> dataset_plugin(root / "pieces")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: .../pieces: not a dataset folder (no dataset.json); make one with `ast data render`
    """
    path = Path(root) / METADATA
    if not path.is_file():
        raise IntegrityError(f"{root}: not a dataset folder (no {METADATA}); make one with "
                             "`ast data render`")
    meta = read_json(path, schema=schemas.DatasetMeta)
    plugin = meta.get("plugin")
    if plugin is None:
        # Written before folders named their plugin: the toolkit's render format.
        return reader_of(meta.get("format", FORMAT))
    if not isinstance(plugin, str) or not plugin:
        raise IntegrityError(f"{path}: 'plugin' must name a dataset plugin, got {plugin!r}")
    return plugin


def check_fits(dataset: Dataset, encoder: Any, registry: Registry | None = None) -> None:
    """Refuse a dataset whose spectrograms the encoder cannot take, saying what would fit.

    Raises
    ------
    ParameterError
        The bin counts differ; the message names registry datasets whose
        spectrogram has the encoder's bin count, when there are any.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from ast_toolkit.catalog import load_registry
    >>> registry = load_registry(env=False)
    >>> demo = SimpleNamespace(root="data/demo", spectrogram=registry.dataset("demo").spectrogram)
    >>> encoder = SimpleNamespace(name="cnn", audio_shape=(136, 42))  # 136 bins x 42 frames
    >>> check_fits(demo, encoder, registry)
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: encoder 'cnn' takes 136-bin spectrograms but data/demo has 92 bins; render a dataset with 136-bin spectrograms (in the registry: folk-dcca, e.g. `ast data render folk-dcca`), or train an encoder with --param audio_bins=92
    """
    bins = n_bins(dataset.spectrogram)
    wanted = int(encoder.audio_shape[0])
    if bins == wanted:
        return
    fitting = []
    if registry is not None:
        fitting = sorted(name for name, spec in registry.datasets.items()
                         if n_bins(spec.spectrogram) == wanted)
    hint = (f"render a dataset with {wanted}-bin spectrograms"
            + (f" (in the registry: {', '.join(fitting)}, e.g. `ast data render {fitting[0]}`)"
               if fitting else "")
            + f", or train an encoder with --param audio_bins={bins}")
    raise ParameterError(f"encoder {encoder.name!r} takes {wanted}-bin spectrograms but "
                         f"{dataset.root} has {bins} bins; {hint}")


def open_dataset(name_or_path: str | os.PathLike, *, encoder: Any = None,
                 registry: Registry | None = None, **options: Any) -> Dataset:
    """Open a dataset folder with the plugin its ``dataset.json`` names.

    Parameters
    ----------
    name_or_path : str or path
        A dataset folder, or a registry dataset rendered to ``$AST_DATA/NAME``.
    encoder : Encoder or None
        Cut windows and excerpts to this encoder's sizes, and check that it can
        take the dataset's spectrograms (:func:`check_fits`).
    registry : Registry or None
        For registry names, and for the hint when the encoder does not fit.
    **options
        Constructor keywords of the :class:`~ast_toolkit.interfaces.Dataset`
        interface (``sheet_window``, ``audio_context``) when no encoder is given.

    Examples
    --------
    >>> open_dataset("no/such/folder")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: no/such/folder: no such dataset folder
    """
    root = resolve_dataset_dir(name_or_path, registry)
    if encoder is not None:
        options = {"sheet_window": tuple(encoder.sheet_window),
                   "audio_context": int(encoder.audio_shape[1]), **options}
    dataset = plugins.create("datasets", dataset_plugin(root), root=root, **options)
    if encoder is not None:
        check_fits(dataset, encoder, registry)
    return dataset


def dataset_of_model(config: dict[str, Any], dataset: str | os.PathLike | None = None, *,
                     encoder: Any, registry: Registry | None = None) -> Dataset:
    """The dataset to evaluate or index a model on: ``dataset``, or the one it was trained on.

    Parameters
    ----------
    config : dict
        The model folder's ``config.json`` (it records the training dataset's folder).
    dataset : str or path or None
        A dataset folder or registry name; None takes the model's own.
    encoder : Encoder
        The model (windows, excerpts and bins are checked against it).

    Examples
    --------
    >>> from ast_toolkit.learn.modelfile import load_encoder
    >>> encoder, config = load_encoder("models/demo-cnn")  # doctest: +SKIP
    >>> dataset_of_model(config, encoder=encoder).name  # doctest: +SKIP
    'demo'
    >>> dataset_of_model({"encoder": "cnn"}, encoder=None)
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: the model does not record the dataset it was trained on; pass --dataset
    """
    if dataset is None:
        recorded = config.get("dataset") or {}
        roots = recorded.get("roots")
        if roots:  # trained on several datasets at once
            from .collections import Joined

            ds = Joined([open_dataset(r, encoder=encoder, registry=registry) for r in roots])
            warn_on_frame_timing(config, ds)
            return ds
        dataset = recorded.get("root")
        if not dataset:
            raise ParameterError("the model does not record the dataset it was trained on; "
                                 "pass --dataset")
    ds = open_dataset(dataset, encoder=encoder, registry=registry)
    warn_on_frame_timing(config, ds)
    return ds


def warn_on_frame_timing(config: dict[str, Any], dataset: Dataset) -> str | None:
    """Warn (and return the warning) when a model was trained on another frame timing.

    A model trained on MSMD's timing (frames starting at i/fps, onsets rounded
    up) sees every excerpt of ``ast-v1`` data about 1.5 frames early, and the
    other way round: it still works, but worse.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from ast_toolkit.types import SpectrogramSpec
    >>> old = SimpleNamespace(root="data/old", spectrogram=SpectrogramSpec(frame_origin="centre"))
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     print(warn_on_frame_timing({"dataset": {"spectrogram": {"frame_origin": "start"}}}, old))
    the model was trained on frames starting at i/fps, onsets rounded to the nearest frame; data/old has frames centred at i/fps, onsets rounded up: its excerpts are shifted for this model (render the data with the model's preset)
    """
    from ..types import SpectrogramSpec

    recorded = (config.get("dataset") or {}).get("spectrogram")
    if recorded is None:
        return None
    mine, theirs = SpectrogramSpec.from_dict(recorded), dataset.spectrogram
    if (mine.frame_origin, mine.onset_frame) == (theirs.frame_origin, theirs.onset_frame):
        return None
    def timing(spec: SpectrogramSpec) -> str:
        origin = "starting" if spec.frame_origin == "start" else "centred"
        onset = "up" if spec.onset_frame == "ceil" else "to the nearest frame"
        return f"frames {origin} at i/fps, onsets rounded {onset}"

    message = (f"the model was trained on {timing(mine)}; {dataset.root} has {timing(theirs)}: "
               "its excerpts are shifted for this model (render the data with the model's preset)")
    import warnings

    warnings.warn(message, UserWarning, stacklevel=2)
    return message


def warn_on_training_pieces(config: dict[str, Any], pieces: Sequence[str]) -> list[str]:
    """Warn (and return them) when ``pieces`` include pieces the model trained on.

    A model's ``config.json`` lists the pieces it learnt from and was validated
    on (``trained_on``); indexing or evaluating them measures memory, not
    retrieval.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_on_training_pieces({"trained_on": ["a", "b"]}, ["b", "c"])
    ['b']
    >>> str(caught[0].message)
    "1 of these 2 pieces were in the model's training data (b): their results measure what it learnt, not how it retrieves"
    """
    seen = sorted(set(pieces) & set(config.get("trained_on") or ()))
    if seen:
        import warnings

        listed = ", ".join(seen[:5]) + (" …" if len(seen) > 5 else "")
        warnings.warn(f"{len(seen)} of these {len(set(pieces))} pieces were in the model's "
                      f"training data ({listed}): their results measure what it learnt, not "
                      "how it retrieves", UserWarning, stacklevel=2)
    return seen


def resolve_piece(name: str, ids: Sequence[str], *, where: str, hint: str = "") -> int:
    """Position in ``ids`` of a piece named by its id, a unique part of it, or its number.

    Examples
    --------
    >>> ids = ["music21/bach/bwv269.mxl", "music21/bach/bwv66.6.mxl"]
    >>> resolve_piece("bwv269", ids, where="index"), resolve_piece("1", ids, where="index")
    (0, 1)
    >>> resolve_piece("bwv", ids, where="index")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: 'bwv' matches 2 pieces of index: music21/bach/bwv269.mxl, music21/bach/bwv66.6.mxl; give more of the id
    """
    if name in ids:
        return list(ids).index(name)
    if name.isdigit() and int(name) < len(ids):
        return int(name)
    found = [i for i, pid in enumerate(ids) if name in pid]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ParameterError(f"{name!r} matches {len(found)} pieces of {where}: "
                             + ", ".join(ids[i] for i in found[:5])
                             + (" ..." if len(found) > 5 else "") + "; give more of the id")
    raise UnknownNameError(did_you_mean(name, ids, what="piece", max_known=10, hint=hint))


def dataset_report(name_or_path: str | os.PathLike, *, registry: Registry | None = None,
                   pieces: bool = False) -> dict[str, Any]:
    """``ast data stats``: counts per split, the pieces that failed to build, the piece ids.

    Returns
    -------
    dict
        ``{"dataset", "splits": {split: {pieces, pages, noteheads, renditions,
        pairs, hours}}, "failed": [...], "pieces": {split: [ids]}}`` (pieces
        only when asked for).

    Examples
    --------
    >>> report = dataset_report("data/demo", pieces=True)  # doctest: +SKIP
    >>> report["splits"]["test"]["pieces"], len(report["pieces"]["test"])  # doctest: +SKIP
    (14, 14)
    """
    ds = open_dataset(name_or_path, registry=registry)
    failures_file = ds.root / "failures.json"
    report: dict[str, Any] = {
        "dataset": str(name_or_path), "splits": ds.stats(),
        "failed": read_json(failures_file, schema=schemas.Failures) if failures_file.is_file() else [],
    }
    if pieces:
        report["pieces"] = {split: ids for split in ds.SPLITS if (ids := ds.piece_ids(split))}
    return report
