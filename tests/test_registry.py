"""registry.toml: the bundled file, user overrides and validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ast_toolkit.errors import RegistryError, UnknownEntryError
from ast_toolkit.catalog import (
    ENV_VAR,
    DatasetSpec,
    ModelSpec,
    bundled_registry_path,
    load_registry,
)


def write(tmp_path: Path, text: str, name: str = "user.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bundled_registry_has_the_named_datasets():
    reg = load_registry(env=False)
    assert {"folk", "chorales", "piano", "demo"} <= set(reg.datasets)
    demo = reg.dataset("demo")
    assert isinstance(demo, DatasetSpec)
    assert [s.limit for s in demo.sources] == [50, 20]
    # MSMD defaults
    assert demo.spectrogram.fps == 20.0 and demo.spectrogram.bands_per_octave == 16
    assert demo.render.page_width == 835
    assert any(r.splits == ("test",) for r in demo.synthesis.renditions)
    train_fonts = {r.soundfont for r in demo.synthesis.renditions if "train" in r.splits}
    test_fonts = {r.soundfont for r in demo.synthesis.renditions if r.splits == ("test",)}
    assert not train_fonts & test_fonts  # the test soundfont is kept out of training
    assert reg.files[0] == bundled_registry_path()


def test_specs_are_frozen():
    demo = load_registry(env=False).dataset("demo")
    with pytest.raises(AttributeError):
        demo.name = "other"  # type: ignore[misc]


def test_user_file_extends_and_overrides(tmp_path):
    user = write(
        tmp_path,
        """
        [datasets.demo]
        description = "my demo"
        sources = [{ path = "music21:bach/bwv66.6.mxl" }]
        split = { train = 0.5, valid = 0.25, test = 0.25, seed = 3 }

        [datasets.mine]
        sources = [{ path = "/data/scores" }]
        render = { renderer = "lilypond", qpm = 90 }

        [models.tiny]
        encoder = "cnn"
        checkpoint = "models/tiny"
        params = { dim = 32, dropout = 0.1 }
        """,
    )
    reg = load_registry([user], env=False)
    assert reg.dataset("demo").description == "my demo"
    assert reg.dataset("demo").split.seed == 3
    assert reg.dataset("demo").origin == user.resolve()
    assert reg.dataset("mine").render.renderer == "lilypond"
    assert reg.dataset("mine").render.qpm == 90.0  # TOML integer widened to float
    assert "folk" in reg.datasets  # bundled entries stay
    model = reg.model("tiny")
    assert isinstance(model, ModelSpec)
    assert model.params == {"dim": 32, "dropout": 0.1}
    assert model.checkpoint_path == tmp_path.resolve() / "models" / "tiny"


def test_environment_variable(tmp_path, monkeypatch):
    a = write(tmp_path, '[models.a]\nencoder = "cnn"\ncheckpoint = "a"\n', "a.toml")
    b = write(tmp_path, '[models.a]\nencoder = "attention"\ncheckpoint = "b"\n', "b.toml")
    monkeypatch.setenv(ENV_VAR, f"{a}:{b}")
    reg = load_registry()
    assert reg.model("a").encoder == "attention"  # later file wins
    assert reg.files[-2:] == (a, b)


@pytest.mark.parametrize(
    "text, match",
    [
        ('[datasets.x]\nsources = []\nrendrer = "verovio"\n',
         r"user\.toml: \[datasets\.x\]: unknown key 'rendrer'"),
        ('[datasets.x]\nsources = []\nrender = { renderr = "verovio" }\n',
         r"\[datasets\.x\.render\]: unknown key 'renderr'; did you mean 'renderer'\?"),
        ('[datasets.x]\ndescription = "no sources"\n',
         r"user\.toml: \[datasets\.x\]: missing required key 'sources'"),
        ('[datasets.x]\nsources = [{ limit = 3 }]\n',
         r"\[datasets\.x\.sources\[0\]\]: missing required key 'path'"),
        ('[datasets.x]\nsources = [{ path = "a", limit = "ten" }]\n',
         r"key 'datasets\.x\.sources\[0\]\.limit': expected an integer, got str 'ten'"),
        ('[datasets.x]\nsources = [{ path = "a", limit = true }]\n',
         r"limit': expected an integer, got bool True"),
        ('[datasets.x]\nsources = "music21:bach"\n',
         r"key 'datasets\.x\.sources': expected an array"),
        ('[datasets.x]\nsources = []\nspectrogram = { fps = "fast" }\n',
         r"key 'datasets\.x\.spectrogram\.fps': expected a number"),
        ('[datasets.x]\nsources = []\nsplit = { train = 0.9, valid = 0.1, test = 0.1 }\n',
         r"\[datasets\.x\.split\]: split fractions must be >= 0 and sum to 1"),
        ('[datasets.x]\nsources = []\nsynthesis = { renditions = [{ soundfont = "a", splits = ["tset"] }] }\n',
         r"splits\[0\]': expected one of 'train' \| 'valid' \| 'test'"),
        ('[models.m]\nencoder = "cnn"\n', r"\[models\.m\]: missing required key 'checkpoint'"),
        ('[models.m]\nencoder = 3\ncheckpoint = "x"\n', r"key 'models\.m\.encoder': expected a string"),
        ('[model.m]\nencoder = "cnn"\n', r"top level: unknown key 'model'; did you mean 'models'\?"),
        ('schema = 2\n', r"this toolkit reads schema 1, got 2"),
        ('[datasets.x\n', r"user\.toml: not valid TOML"),
        ('datasets = 3\n', r"key 'datasets': expected a table of named entries"),
    ],
)
def test_validation_errors_name_file_and_key(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(RegistryError, match=match):
        load_registry([path], env=False)


def test_missing_file(tmp_path):
    with pytest.raises(RegistryError, match=r"nope\.toml: registry file not found"):
        load_registry([tmp_path / "nope.toml"], env=False)


def test_unknown_entry_names_suggest():
    reg = load_registry(env=False)
    with pytest.raises(UnknownEntryError, match=r"unknown dataset 'chorale'; did you mean 'chorales'\?"):
        reg.dataset("chorale")


def test_cli_registry_list_json_with_user_file(tmp_path, ast_cmd):
    user = write(tmp_path, '[models.tiny]\nencoder = "cnn"\ncheckpoint = "ckpt"\n')
    out = ast_cmd("--registry", str(user), "registry", "list", "--json", check=True)
    data = json.loads(out.stdout)
    assert {d["name"] for d in data["datasets"]} >= {"folk", "chorales", "piano", "demo"}
    tiny = next(m for m in data["models"] if m["name"] == "tiny")
    assert tiny["file"] == str(user.resolve())
    assert tiny["checkpoint_exists"] is False
    assert [m["name"] for m in data["models"] if m["default"]] == ["ast-cnn"]
    assert "ast-cnn (default)" in ast_cmd("registry", "list", check=True).stdout


def test_cli_bad_registry_file_is_one_clear_error(tmp_path, ast_cmd):
    user = write(tmp_path, '[datasets.x]\nsources = []\nsplit = { seed = "a" }\n')
    out = ast_cmd("--registry", str(user), "registry", "list")
    assert out.returncode == 1
    assert f"{user}: key 'datasets.x.split.seed': expected an integer" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_preset_fills_the_settings_and_the_entry_overrides_it(tmp_path):
    from ast_toolkit.catalog import PRESETS

    user = tmp_path / "mine.toml"
    user.write_text(
        'schema = 1\n[datasets.old]\nsources = [{ path = "music21:bach/bwv1*" }]\npreset = "ast-v1"\n'
        'render = { page_width = 900 }\nsynthesis = { gain = 0.5 }\n'
        '[datasets.new]\nsources = [{ path = "music21:bach/bwv1*" }]\n')
    reg = load_registry([user], env=False)
    old, new = reg.dataset("old"), reg.dataset("new")
    assert old.preset == "ast-v1" and new.preset == "msmd"
    assert (old.render.staff_space, old.render.page_width) == (10.0, 900)  # preset, then the entry
    assert (old.synthesis.gain, old.synthesis.velocity) == (0.5, None)
    assert old.spectrogram.frame_origin == "centre" and old.snippets == PRESETS["ast-v1"].snippets
    assert new.render == PRESETS["msmd"].render and new.snippets == PRESETS["msmd"].snippets
    bad = tmp_path / "bad.toml"
    bad.write_text('schema = 1\n[datasets.x]\nsources = [{ path = "a" }]\npreset = "msdm"\n')
    with pytest.raises(RegistryError, match=r"bad\.toml: key 'datasets\.x\.preset': unknown preset 'msdm'; did you mean 'msmd'"):
        load_registry([bad], env=False)


def _shipped_models() -> list[str]:
    """The bundled registry's models whose weights ship in the repository's ``weights/``."""
    reg = load_registry(env=False)
    return sorted(n for n, m in reg.models.items() if m.checkpoint.startswith("weights/"))


def test_the_shipped_default_model_is_ast_cnn():
    from ast_toolkit.catalog import resolve_model_dir

    reg = load_registry(env=False)
    spec = reg.default_model()
    assert spec.name == "ast-cnn" and spec.default and spec.name in _shipped_models()
    assert resolve_model_dir(None, reg) == spec.checkpoint_path


@pytest.mark.parametrize("name", _shipped_models())
def test_a_shipped_model_loads_and_learnt_only_the_registry_corpora(name):
    from ast_toolkit.learn.modelfile import load_encoder

    reg = load_registry(env=False)
    spec = reg.models[name]
    folder = spec.checkpoint_path
    assert (folder / "MODEL_CARD.md").is_file()
    encoder, cfg = load_encoder(folder, reg)  # checked against its recorded sha256
    assert cfg["encoder"] == spec.encoder and encoder.dim > 0
    # shipped weights are few MB and trained by this project, not imported
    assert (folder / "weights.pt").stat().st_size < 10_000_000 and cfg.get("init") is None
    # it learnt only from the registry's folk, chorales and piano corpora (every other
    # music21 corpus stays unseen), and never from the demo's test pieces
    assert cfg["trained_on"] and all(p.startswith(("music21/bach/", "music21/essenFolksong/",
                                                   "music21/ryansMammoth/", "music21/nottingham",
                                                   "music21/mozart/k545/", "music21/joplin/",
                                                   "music21/chopin/", "music21/schumann_clara/",
                                                   "music21/cpebach/"))
                                     for p in cfg["trained_on"])
    assert cfg["held_out"]["pieces"] and not set(cfg["held_out"]["pieces"]) & set(cfg["trained_on"])


def _default_entry(name: str, checkpoint: str) -> str:
    """A registry entry of a cnn model marked as the default."""
    return f'[models.{name}]\nencoder = "cnn"\ncheckpoint = "{checkpoint}"\ndefault = true\n'


def test_a_user_file_chooses_its_own_default(tmp_path):
    user = write(tmp_path, _default_entry("mine", "models/mine"))
    reg = load_registry([user], env=False)
    assert reg.default_model().name == "mine"
    # replacing the shipped entry without the mark leaves no default: a clear error
    plain = write(tmp_path, """
        [models.ast-cnn]
        encoder = "cnn"
        checkpoint = "models/other"
        """, "plain.toml")
    reg = load_registry([plain], env=False)
    with pytest.raises(Exception, match="no default model is registered"):
        reg.default_model()
    two = write(tmp_path, _default_entry("a", "a") + _default_entry("b", "b"), "two.toml")
    with pytest.raises(RegistryError, match=r"two.toml: several models have `default = true` \(a, b\)"):
        load_registry([two], env=False)


def test_a_missing_default_model_folder_is_named(tmp_path):
    from ast_toolkit.catalog import resolve_model_dir

    user = write(tmp_path, _default_entry("mine", "nowhere/mine"))
    with pytest.raises(Exception, match=r"the default model 'mine' is not at .*nowhere/mine"):
        resolve_model_dir(None, load_registry([user], env=False))
