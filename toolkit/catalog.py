"""The catalogue of named datasets and models: ``registry.toml`` in frozen dataclasses.

Not to be confused with plugin discovery (:mod:`ast_toolkit.plugins`): the
catalogue names *data* — corpus selections with their render settings, and
trained models — while plugins are *code* found through entry points.

The bundled ``registry.toml`` (repository root) is read first; then every file in
the ``AST_REGISTRY`` environment variable (``os.pathsep``-separated); then the
files given explicitly (``ast --registry PATH``).  A later file adds entries and
replaces whole entries of the same name.

A file looks like::

    schema = 1

    [datasets.demo]
    description = "..."
    sources = [{ path = "music21:essenFolksong/*.abc", limit = 50 }]
    split = { train = 0.7, valid = 0.1, test = 0.2, seed = 0 }

    [models.demo-attention]
    encoder = "attention"
    dataset = "demo"
    checkpoint = "models/demo-attention"   # relative to this file's folder
    params = { context = 84 }

Unknown keys, missing fields and wrong types raise :class:`RegistryError` naming
the file and the key; an unknown name raises :class:`UnknownEntryError` with
close matches.  :func:`resolve_dataset_dir` and :func:`resolve_model_dir` turn
a name or a folder into a folder; :func:`register_model` adds a trained model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sysconfig
import tomllib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import IntegrityError, ParameterError, RegistryError, UnknownEntryError, did_you_mean
from .io import atomic_write_text, read_json
from .types import SpectrogramSpec

__all__ = [
    "SCHEMA_VERSION",
    "ENV_VAR",
    "SourceSpec",
    "RenderSpec",
    "RenditionSpec",
    "SynthesisSpec",
    "SpectrogramSpec",
    "SnippetSpec",
    "SplitSpec",
    "DatasetSpec",
    "Preset",
    "PRESETS",
    "PRESET_FIELDS",
    "apply_preset",
    "ModelSpec",
    "Registry",
    "bundled_registry_path",
    "load_registry",
    "registry_files",
    "DATA_ENV",
    "data_root",
    "resolve_dataset_dir",
    "resolve_model_dir",
    "register_model",
    "describe",
]

SCHEMA_VERSION = 1
ENV_VAR = "AST_REGISTRY"


@dataclass(frozen=True)
class SourceSpec:
    """Where pieces come from.

    Attributes
    ----------
    path : str
        ``music21:<corpus glob>`` (``music21:essenFolksong/*.abc``; every tune of a
        multi-tune ABC file is a piece) or a local file, folder or glob.
    limit : int or None
        At most this many pieces of this source, spread evenly over its sorted list.

    Examples
    --------
    >>> [(s.path, s.limit) for s in load_registry(env=False).dataset("demo").sources]
    [('music21:essenFolksong/*.abc', 50), ('music21:bach/bwv*', 20)]
    >>> SourceSpec("scores/*.musicxml")
    SourceSpec(path='scores/*.musicxml', limit=None)
    """

    path: str
    limit: int | None = None


@dataclass(frozen=True)
class RenderSpec:
    """Engraving settings.

    Attributes
    ----------
    renderer : str
        Renderer plugin name.
    page_width : int
        Page image width in pixels (MSMD: 835).
    staff_space : float
        Distance between staff lines in page pixels: the engraving scale
        (``msmd`` preset: 7.0; ``ast-v1``: 10.0).
    qpm : float or None
        Tempo in quarter notes per minute; None uses each score's own marking.

    Examples
    --------
    >>> load_registry(env=False).dataset("demo").render
    RenderSpec(renderer='verovio', page_width=835, staff_space=7.0, qpm=None)
    >>> RenderSpec(renderer="lilypond", qpm=100).page_width
    835
    """

    renderer: str = "verovio"
    page_width: int = 835
    staff_space: float = 7.0
    qpm: float | None = None


@dataclass(frozen=True)
class RenditionSpec:
    """One performance of each piece.

    Attributes
    ----------
    soundfont : str
        Soundfont name (``FluidR3_GM``, ``TimGM6mb``, ``MuseScore_General``) or path.
    tempo : float
        Tempo factor; > 1 is faster.
    splits : tuple of str
        The splits whose pieces get this rendition (a test soundfont is kept out of
        training by listing only ``test``).

    Examples
    --------
    >>> RenditionSpec("TimGM6mb", tempo=0.9)
    RenditionSpec(soundfont='TimGM6mb', tempo=0.9, splits=('train', 'valid', 'test'))
    >>> [r.soundfont for r in SynthesisSpec().renditions if "test" in r.splits]
    ['MuseScore_General']
    """

    soundfont: str
    tempo: float = 1.0
    splits: tuple[Literal["train", "valid", "test"], ...] = ("train", "valid", "test")


@dataclass(frozen=True)
class SynthesisSpec:
    """Synthesis settings.

    Attributes
    ----------
    synthesizer : str
        Synthesizer plugin name.
    sample_rate : int
        Samples per second (MSMD: 22,050).
    program : int
        General MIDI program on every channel (0 = acoustic grand piano).
    gain : float
        Output level, as FluidSynth's master gain (``msmd`` preset: 0.2,
        FluidSynth's default; ``ast-v1``: 0.8).
    velocity : int or None
        MIDI velocity of every note (``msmd``: 64, what MSMD's MIDI files
        carry); None keeps the renderer's (80 for both bundled renderers).
    renditions : tuple of RenditionSpec

    Examples
    --------
    >>> synthesis = load_registry(env=False).dataset("demo").synthesis
    >>> synthesis.synthesizer, synthesis.sample_rate, len(synthesis.renditions)
    ('fluidsynth', 22050, 4)
    >>> sorted({(r.soundfont, r.tempo) for r in synthesis.renditions if "train" in r.splits})
    [('FluidR3_GM', 1.0), ('FluidR3_GM', 1.1), ('TimGM6mb', 0.9)]
    """

    synthesizer: str = "fluidsynth"
    sample_rate: int = 22050
    program: int = 0
    gain: float = 0.2
    velocity: int | None = 64
    renditions: tuple[RenditionSpec, ...] = (
        RenditionSpec("FluidR3_GM", 1.0, ("train", "valid")),
        RenditionSpec("TimGM6mb", 0.9, ("train", "valid")),
        RenditionSpec("FluidR3_GM", 1.1, ("train", "valid")),
        RenditionSpec("MuseScore_General", 1.0, ("test",)),
    )


@dataclass(frozen=True)
class SnippetSpec:
    """How snippets are cut from a rendered piece.

    Attributes
    ----------
    system_margin : int
        Pixels of page kept left and right of each system's staff box when the
        systems are unrolled into one strip (``msmd``: 0 — MSMD abuts systems at
        the staff box; ``ast-v1``: 10).
    pairs : {"msmd", "onsets"}
        Which aligned pairs a dataset yields.  ``msmd`` — as MSMD's data pools:
        one pair per onset frame, at the first note head (in reading order) whose
        onset falls on that frame, and only where the whole sheet window lies
        inside the unrolled strip.  ``onsets`` (``ast-v1``) — one pair per
        distinct onset time, centred on the mean of its note heads, windows
        zero-padded past the strip's ends.

    Examples
    --------
    >>> SnippetSpec()
    SnippetSpec(system_margin=0, pairs='msmd')
    """

    system_margin: int = 0
    pairs: Literal["msmd", "onsets"] = "msmd"

    def __post_init__(self) -> None:
        if self.system_margin < 0:
            raise ValueError(f"system_margin must be >= 0 pixels, got {self.system_margin}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SnippetSpec:
        """From a folder's record; a folder written before this setting existed has
        none and reads as the ``ast-v1`` setting it was made with."""
        if not data:
            return PRESETS["ast-v1"].snippets
        return cls(int(data.get("system_margin", 0)), str(data.get("pairs", "msmd")))


@dataclass(frozen=True)
class SplitSpec:
    """Piece-level split, deterministic from ``seed``; fractions sum to 1.

    Examples
    --------
    >>> SplitSpec()
    SplitSpec(train=0.7, valid=0.1, test=0.2, seed=0)
    >>> SplitSpec(train=0.8, valid=0.1, test=0.2)
    Traceback (most recent call last):
    ...
    ValueError: split fractions must be >= 0 and sum to 1, got train=0.8, valid=0.1, test=0.2
    """

    train: float = 0.7
    valid: float = 0.1
    test: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        total = self.train + self.valid + self.test
        if min(self.train, self.valid, self.test) < 0 or abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"split fractions must be >= 0 and sum to 1, got "
                f"train={self.train}, valid={self.valid}, test={self.test}"
            )


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: corpus selection, render and synthesis settings, split.

    Examples
    --------
    >>> spec = load_registry(env=False).dataset("folk-dcca")
    >>> spec.name, len(spec.sources), spec.origin.name
    ('folk-dcca', 3, 'registry.toml')
    >>> spec.spectrogram.fps, spec.spectrogram.bands_per_octave, spec.split.test
    (31.25, 24, 0.2)
    >>> spec.preset, spec.render.staff_space, spec.snippets.system_margin
    ('msmd', 7.0, 0)
    """

    name: str
    sources: tuple[SourceSpec, ...]
    description: str = ""
    #: The preset the settings started from (:data:`PRESETS`); keys given
    #: explicitly in the registry entry override it.
    preset: str = "msmd"
    render: RenderSpec = RenderSpec()
    synthesis: SynthesisSpec = SynthesisSpec()
    spectrogram: SpectrogramSpec = SpectrogramSpec()
    snippets: SnippetSpec = SnippetSpec()
    split: SplitSpec = SplitSpec()
    #: The registry file that defined this entry.
    origin: Path = field(default=Path("."), compare=False)


@dataclass(frozen=True)
class Preset:
    """A named data setting: the values of the settings that make data like a given corpus.

    Only the fields named in :data:`PRESET_FIELDS` belong to a preset; a
    dataset's sources, renditions, filterbank and split are its own.
    """

    name: str
    description: str
    render: RenderSpec
    synthesis: SynthesisSpec
    spectrogram: SpectrogramSpec
    snippets: SnippetSpec


#: The settings a preset fixes, per section of :class:`DatasetSpec`.
PRESET_FIELDS: dict[str, tuple[str, ...]] = {
    "render": ("staff_space",),
    "synthesis": ("gain", "velocity"),
    "spectrogram": ("frame_origin", "onset_frame"),
    "snippets": ("system_margin", "pairs"),
}

#: Named data settings.  ``msmd`` (the default) makes data as MSMD was made
#: ([Dorfer et al. 2018], checked in the authors' code, CPJKU/msmd), so that
#: models trained on MSMD — the published weights of [Carvalho et al. 2023]
#: (``ast model import --format ucasr``) — work on it unchanged.  ``ast-v1``
#: is the setting of ``ast`` before it, kept so old datasets can be re-made.
PRESETS: dict[str, Preset] = {
    "msmd": Preset(
        "msmd",
        "as MSMD: staff space 7 px at 835 px (LilyPond's 20-pt staff at 150 dpi, resized), "
        "FluidSynth gain 0.2 and velocity 64, frames starting at i/fps with onsets rounded "
        "up, systems abutted, one pair per onset frame with the window inside the strip",
        RenderSpec(), SynthesisSpec(), SpectrogramSpec(), SnippetSpec()),
    "ast-v1": Preset(
        "ast-v1",
        "ast before the msmd preset: staff space 10 px, gain 0.8 and the renderer's "
        "velocity (80), frames centred at i/fps with onsets rounded, 10-px system margins, "
        "one pair per distinct onset",
        RenderSpec(staff_space=10.0), SynthesisSpec(gain=0.8, velocity=None),
        SpectrogramSpec(frame_origin="centre", onset_frame="round"),
        SnippetSpec(system_margin=10, pairs="onsets")),
}


def apply_preset(spec: DatasetSpec, name: str) -> DatasetSpec:
    """``spec`` with the settings of preset ``name`` (:data:`PRESET_FIELDS` only).

    Examples
    --------
    >>> demo = load_registry(env=False).dataset("demo")
    >>> old = apply_preset(demo, "ast-v1")
    >>> old.preset, old.render.staff_space, old.synthesis.gain, old.spectrogram.frame_origin
    ('ast-v1', 10.0, 0.8, 'centre')
    >>> old.sources == demo.sources, apply_preset(old, "msmd") == demo
    (True, True)
    >>> apply_preset(demo, "msdm")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.UnknownEntryError: unknown preset 'msdm'; did you mean 'msmd'? Known: ast-v1, msmd
    """
    if name not in PRESETS:
        raise UnknownEntryError(did_you_mean(name, PRESETS, what="preset"))
    preset = PRESETS[name]
    changes: dict[str, Any] = {"preset": name}
    for section, names in PRESET_FIELDS.items():
        values = {n: getattr(getattr(preset, section), n) for n in names}
        changes[section] = dataclasses.replace(getattr(spec, section), **values)
    return dataclasses.replace(spec, **changes)


@dataclass(frozen=True)
class ModelSpec:
    """A named model: encoder plugin, its hyper-parameters and checkpoint location.

    Attributes
    ----------
    encoder : str
        Encoder plugin name.
    checkpoint : str
        Model folder, relative to the registry file's folder unless absolute.
    dataset : str or None
        The dataset it was trained on.
    loss : str or None
        Training objective.
    params : dict
        Encoder hyper-parameters, checked by the encoder plugin itself.
    default : bool
        The model ``ast index``, ``ast match``, ``ast link`` and ``ast eval
        snippets`` use when no ``--model`` is given (of several, the one read
        last: a user registry file can choose its own).

    Examples
    --------
    >>> spec = ModelSpec("demo-attention", "attention", "models/demo-attention", dataset="demo",
    ...                  params={"context": 84}, origin=Path("/srv/ast/registry.toml"))
    >>> spec.checkpoint_path.as_posix()  # relative to the registry file's folder
    '/srv/ast/models/demo-attention'
    """

    name: str
    encoder: str
    checkpoint: str
    description: str = ""
    dataset: str | None = None
    loss: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    default: bool = False
    origin: Path = field(default=Path("."), compare=False)

    @property
    def checkpoint_path(self) -> Path:
        """The checkpoint folder, resolved against the defining file's folder."""
        p = Path(self.checkpoint).expanduser()
        return p if p.is_absolute() else (self.origin.parent / p)


@dataclass(frozen=True)
class Registry:
    """Every named dataset and model, with the files they came from.

    Examples
    --------
    >>> registry = load_registry(env=False)
    >>> "demo" in registry.datasets, registry.files[0] == bundled_registry_path()
    (True, True)
    >>> registry.dataset("demo").split
    SplitSpec(train=0.7, valid=0.1, test=0.2, seed=0)
    """

    datasets: dict[str, DatasetSpec]
    models: dict[str, ModelSpec]
    files: tuple[Path, ...]
    #: the name of the default model (``default = true``; the last one read)
    default: str | None = None

    def dataset(self, name: str) -> DatasetSpec:
        """The dataset ``name``; unknown names fail with close matches.

        Examples
        --------
        >>> registry = load_registry(env=False)
        >>> registry.dataset("demo").sources[0].path
        'music21:essenFolksong/*.abc'
        >>> registry.dataset("chorale")
        Traceback (most recent call last):
        ...
        ast_toolkit.errors.UnknownEntryError: unknown dataset 'chorale'; did you mean 'chorales'? Known: chorales, demo, folk, folk-dcca, piano
        """
        if name not in self.datasets:
            raise UnknownEntryError(did_you_mean(name, self.datasets, what="dataset"))
        return self.datasets[name]

    def model(self, name: str) -> ModelSpec:
        """The model ``name``; unknown names fail with close matches."""
        if name not in self.models:
            raise UnknownEntryError(did_you_mean(name, self.models, what="model",
                                                 hint="`ast registry list`"))
        return self.models[name]

    def default_model(self) -> ModelSpec:
        """The model used when no ``--model`` is given (``default = true`` in its entry).

        Examples
        --------
        >>> registry = load_registry(env=False)
        >>> spec = registry.default_model()
        >>> spec.name, spec.default, spec.checkpoint_path.is_dir()
        ('ast-cnn', True, True)
        """
        if self.default is None:
            raise ParameterError("no default model is registered (an entry with `default = "
                                 "true` in a registry file): give --model NAME|DIR")
        return self.models[self.default]


# --- validation -------------------------------------------------------------
# Hand-written rather than dacite/pydantic: errors must name the file and the
# dotted key, suggest close key names, and widen TOML integers to floats while
# refusing booleans as numbers; that is ~60 lines here.


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, key: str, file: Path) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def bad(expected: str) -> RegistryError:
        return RegistryError(
            f"{file}: key {key!r}: expected {expected}, got "
            f"{type(value).__name__} {value!r}"
        )

    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(inner[0], value, key, file)
        raise bad(_type_name(tp))  # not used by the schema
    if origin is Literal:
        if value not in args:
            raise bad("one of " + _type_name(tp))
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad(f"a table ({tp.__name__})")
        return _build(tp, value, key, file)
    if origin is tuple:
        if not isinstance(value, list):
            raise bad("an array")
        return tuple(_convert(args[0], v, f"{key}[{i}]", file) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise bad("a table")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad("a boolean")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    raise TypeError(f"unsupported schema type {tp!r}")  # a bug in this module


def _build(cls: type, data: dict[str, Any], where: str, file: Path, *, base: Any = None,
           **fixed: Any) -> Any:
    """``cls`` from a TOML table; keys not given take ``base``'s values (else the defaults)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in fixed}
    for key in data:
        if key not in fields:
            raise RegistryError(
                f"{file}: [{where}]: "
                + did_you_mean(key, fields, what="key").replace("Known:", "Allowed keys:")
            )
    kwargs = dict(fixed)
    for name, f in fields.items():
        inner = getattr(base, name, None) if base is not None else None
        if name in data and dataclasses.is_dataclass(hints[name]) and inner is not None:
            if not isinstance(data[name], dict):
                raise RegistryError(f"{file}: key '{where}.{name}': expected a table "
                                    f"({hints[name].__name__}), got {data[name]!r}")
            kwargs[name] = _build(hints[name], data[name], f"{where}.{name}", file, base=inner)
        elif name in data:
            kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}", file)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RegistryError(f"{file}: [{where}]: missing required key {name!r}")
        elif base is not None:
            kwargs[name] = getattr(base, name)
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise RegistryError(f"{file}: [{where}]: {exc}") from None


def dataset_spec_of_record(data: dict[str, Any], file: Path) -> DatasetSpec:
    """The :class:`DatasetSpec` a dataset folder records (``dataset.json``'s ``spec``).

    Raises
    ------
    RegistryError
        The record is not a dataset spec this toolkit can read (naming ``file``).
    """
    data = dict(data)
    name = data.pop("name", None)
    if not isinstance(name, str):
        raise RegistryError(f"{file}: key 'spec.name': expected a string, got {name!r}")
    data.pop("origin", None)
    return _build(DatasetSpec, data, "spec", Path(file), name=name, origin=None)


def _parse_file(path: Path) -> tuple[dict[str, DatasetSpec], dict[str, ModelSpec]]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise RegistryError(f"{path}: registry file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from None
    allowed = {"schema", "datasets", "models"}
    for key in data:
        if key not in allowed:
            raise RegistryError(
                f"{path}: top level: "
                + did_you_mean(key, allowed, what="key").replace("Known:", "Allowed keys:")
            )
    schema = data.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise RegistryError(
            f"{path}: key 'schema': this toolkit reads schema {SCHEMA_VERSION}, got {schema!r}"
        )
    out: list[dict[str, Any]] = []
    for section, cls in (("datasets", DatasetSpec), ("models", ModelSpec)):
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise RegistryError(f"{path}: key {section!r}: expected a table of named entries")
        entries = {}
        for name, entry in table.items():
            if not isinstance(entry, dict):
                raise RegistryError(f"{path}: key '{section}.{name}': expected a table")
            base = None
            if cls is DatasetSpec and "preset" in entry:
                # the preset's settings first, then the entry's own keys over them
                preset = entry["preset"]
                if not isinstance(preset, str) or preset not in PRESETS:
                    raise RegistryError(f"{path}: key '{section}.{name}.preset': "
                                        + did_you_mean(str(preset), PRESETS, what="preset"))
                base = apply_preset(DatasetSpec(name, ()), preset)
            entries[name] = _build(
                cls, entry, f"{section}.{name}", path, base=base, name=name, origin=path.resolve()
            )
        out.append(entries)
    return out[0], out[1]


def bundled_registry_path() -> Path:
    """The ``registry.toml`` that ships with the toolkit.

    Examples
    --------
    >>> path = bundled_registry_path()
    >>> path.name, path.is_file()
    ('registry.toml', True)
    """
    source_tree = Path(__file__).resolve().parent.parent / "registry.toml"
    if source_tree.is_file():
        return source_tree
    # A regular (non-editable) install puts it under <prefix>/share/ast-toolkit.
    return Path(sysconfig.get_paths()["data"]) / "share" / "ast-toolkit" / "registry.toml"


def registry_files(extra: Iterable[str | os.PathLike] = (), *, env: bool = True) -> list[Path]:
    """The registry files in reading order: bundled, ``$AST_REGISTRY``, ``extra``.

    Examples
    --------
    >>> files = registry_files(["my-models.toml"], env=False)
    >>> files[0] == bundled_registry_path(), [path.name for path in files]
    (True, ['registry.toml', 'my-models.toml'])
    """
    files = [bundled_registry_path()]
    if env and os.environ.get(ENV_VAR):
        files += [Path(p) for p in os.environ[ENV_VAR].split(os.pathsep) if p]
    files += [Path(p) for p in extra]
    return files


def load_registry(extra: Sequence[str | os.PathLike] = (), *, env: bool = True) -> Registry:
    """Read the bundled registry, then user files that extend and override it.

    Parameters
    ----------
    extra : sequence of path
        User registry files, read last (``ast --registry PATH``).
    env : bool
        Also read the files listed in ``$AST_REGISTRY``.

    Examples
    --------
    >>> registry = load_registry(env=False)
    >>> sorted(registry.datasets)
    ['chorales', 'demo', 'folk', 'folk-dcca', 'piano']
    >>> registry.files[0].name
    'registry.toml'
    """
    datasets: dict[str, DatasetSpec] = {}
    models: dict[str, ModelSpec] = {}
    default = None
    files = registry_files(extra, env=env)
    for path in files:
        d, m = _parse_file(path)
        datasets.update(d)
        models.update(m)
        marked = [name for name, spec in m.items() if spec.default]
        if len(marked) > 1:
            raise RegistryError(f"{path}: several models have `default = true` "
                                f"({', '.join(marked)}); mark one")
        if marked:
            default = marked[0]
        elif default in m:  # an entry of a later file replaced the default without the mark
            default = None
    return Registry(datasets, models, tuple(files), default)


# --- names to folders ---------------------------------------------------------------

#: Folder holding rendered datasets by name (default ``./data``).
DATA_ENV = "AST_DATA"


def data_root() -> Path:
    """Where ``--dataset NAME`` looks for ``NAME``'s folder: ``$AST_DATA`` or ``./data``.

    Examples
    --------
    >>> data_root() == Path(os.environ.get("AST_DATA", "data"))
    True
    """
    return Path(os.environ.get(DATA_ENV, "data"))


def resolve_dataset_dir(name_or_path: str | os.PathLike, registry: Registry | None = None) -> Path:
    """A dataset folder from a path or a registry name.

    A name of ``registry.toml`` maps to ``$AST_DATA/NAME`` (default ``data/NAME``),
    where ``ast data render NAME --out data/NAME`` puts it.

    Examples
    --------
    >>> resolve_dataset_dir("chorale", load_registry(env=False))
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.UnknownEntryError: unknown dataset 'chorale'; did you mean 'chorales'? Known: chorales, demo, folk, folk-dcca, piano (or give a dataset folder)
    """
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if registry is not None and name in registry.datasets:
        folder = data_root() / name
        if folder.is_dir():
            return folder
        raise ParameterError(
            f"dataset {name!r} has not been rendered to {folder}: run "
            f"`ast data render {name} --out {folder}` first, or pass the folder"
        )
    if registry is None:
        raise ParameterError(f"{name}: no such dataset folder")
    raise UnknownEntryError(did_you_mean(name, registry.datasets, what="dataset")
                            + " (or give a dataset folder)")


def resolve_model_dir(name_or_path: str | os.PathLike | None,
                      registry: Registry | None = None) -> Path:
    """A model folder from a path or a registry model name; None: the default model.

    Examples
    --------
    >>> resolve_model_dir(None, load_registry(env=False)).name
    'ast-cnn'
    >>> resolve_model_dir("no-such-model", load_registry(env=False))
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.UnknownEntryError: unknown model 'no-such-model'; Known: ast-attention, ast-cnn, ast-cnn-84 (or give a model folder)
    """
    if name_or_path is None:
        if registry is None:
            raise ParameterError("no model given (--model NAME|DIR)")
        spec = registry.default_model()
        if not spec.checkpoint_path.is_dir():
            raise ParameterError(f"the default model {spec.name!r} is not at "
                                 f"{spec.checkpoint_path} (registered in {spec.origin}); "
                                 "reinstall the toolkit or give --model NAME|DIR")
        return spec.checkpoint_path
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if registry is not None and name in registry.models:
        return registry.models[name].checkpoint_path
    if registry is not None and registry.models:
        raise UnknownEntryError(
            did_you_mean(name, registry.models, what="model",
                         hint="`ast registry list`") + " (or give a model folder)"
        )
    raise ParameterError(f"{name!r}: no such model folder, and no models are registered")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ParameterError(f"cannot write {value!r} to TOML")


def register_model(registry_file: str | os.PathLike, name: str, model_dir: str | os.PathLike,
                   *, description: str = "") -> Path:
    """Add (or replace) ``[models.NAME]`` in a user registry file for a trained model.

    The checkpoint path is written relative to the registry file's folder.  Use
    the file with ``ast --registry FILE`` or ``$AST_REGISTRY``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "m").mkdir(), (folder / "m" / "config.json").write_text(
    ...     '{"format": 1, "encoder": "cnn", "objective": "ranking"}')
    >>> file = register_model(folder / "mine.toml", "tiny", folder / "m")
    >>> load_registry([file], env=False).model("tiny").encoder
    'cnn'
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ParameterError(f"model name {name!r}: use letters, digits, '-' and '_'")
    file = Path(registry_file)
    model_dir = Path(model_dir)
    from . import schemas

    cfg = read_json(model_dir / "config.json", schema=schemas.ModelConfig,
                    what="not a finished model folder")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("encoder"), str):
        raise IntegrityError(f"{model_dir / 'config.json'}: no encoder name")
    text = file.read_text() if file.exists() else "schema = 1\n"
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{file}: not valid TOML: {exc}") from None
    # Drop an existing entry of that name (its header up to the next header).
    text = re.sub(rf"(?ms)^\[models\.{re.escape(name)}\]\n.*?(?=^\[|\Z)", "", text)
    try:
        rel = os.path.relpath(model_dir.resolve(), file.resolve().parent)
    except ValueError:  # another drive
        rel = str(model_dir.resolve())
    entry = {
        "encoder": cfg["encoder"],
        "checkpoint": rel,
        "description": description or f"{cfg['encoder']} trained with {cfg.get('objective')}",
        "loss": cfg.get("objective"),
    }
    if (cfg.get("dataset") or {}).get("name"):
        entry["dataset"] = cfg["dataset"]["name"]
    lines = [f"\n[models.{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in entry.items() if v]
    text = text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, text)
    return file


def describe(registry: Registry) -> dict[str, Any]:
    """Every named dataset and model as plain data (``ast registry list``), with the
    plugins each needs that are not installed.

    Examples
    --------
    >>> info = describe(load_registry(env=False))
    >>> [d["name"] for d in info["datasets"]][:2], info["datasets"][0]["missing_plugins"]
    (['folk', 'chorales'], [])
    """
    from . import plugins

    reg = registry
    installed = {g: set(plugins.names(g)) for g in ("renderers", "synthesizers", "encoders")}

    def missing(group: str, name: str | None) -> list[str]:
        return [] if name is None or name in installed[group] else [f"{group[:-1]} {name!r}"]

    datasets = []
    for d in reg.datasets.values():
        datasets.append(
            {
                "name": d.name,
                "description": d.description,
                "sources": [{"path": s.path, "limit": s.limit} for s in d.sources],
                "preset": d.preset,
                "renderer": d.render.renderer,
                "synthesizer": d.synthesis.synthesizer,
                "renditions": [
                    {"soundfont": r.soundfont, "tempo": r.tempo, "splits": list(r.splits)}
                    for r in d.synthesis.renditions
                ],
                "split": {"train": d.split.train, "valid": d.split.valid,
                          "test": d.split.test, "seed": d.split.seed},
                "missing_plugins": missing("renderers", d.render.renderer)
                + missing("synthesizers", d.synthesis.synthesizer),
                "file": str(d.origin),
            }
        )
    models = []
    for m in reg.models.values():
        models.append(
            {
                "name": m.name,
                "description": m.description,
                "encoder": m.encoder,
                "dataset": m.dataset,
                "loss": m.loss,
                "params": m.params,
                "checkpoint": str(m.checkpoint_path),
                "checkpoint_exists": m.checkpoint_path.exists(),
                "default": m.name == reg.default,
                "missing_plugins": missing("encoders", m.encoder),
                "file": str(m.origin),
            }
        )
    return {"files": [str(f) for f in reg.files], "datasets": datasets, "models": models}
