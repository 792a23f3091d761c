"""Training (`ast fit`) and snippet evaluation (`ast eval snippets`) on real rendered tunes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ast_toolkit import plugins
from ast_toolkit.errors import ParameterError
from ast_toolkit.catalog import register_model
from ast_toolkit.learn.modelfile import load_encoder
from ast_toolkit.catalog import load_registry
from ast_toolkit.evaluation.snippets import relevant_ranks
from ast_toolkit.learn.training import FitConfig, fit

#: A small cnn: the seed's layout with fewer filters, so CPU tests stay quick.
TINY = {"filters": [8, 16, 16, 16]}
QUICK = dict(epoch_samples=120, batch_size=40, max_epochs=2, val_candidates=60, refit_samples=300)


def test_a_tiny_model_overfits_64_real_pairs(tunes):
    """Sixty-four real pairs, no augmentation: the model must learn them (R@1 >= 0.9)."""
    torch.manual_seed(0)
    enc = plugins.create("encoders", "cnn", **TINY)
    obj = plugins.create("objectives", "infonce")
    ds = plugins.create("datasets", "rendered", root=tunes, sheet_window=enc.sheet_window,
                        audio_context=enc.audio_shape[1])
    table = ds.pair_table("train")
    assert len(table) >= 64
    rows = np.linspace(0, len(table) - 1, 64).round().astype(int)
    sheets, audio = ds.batch(table, rows)
    xs, xa = torch.from_numpy(sheets), torch.from_numpy(audio)
    opt = torch.optim.Adam(list(enc.parameters()) + list(obj.parameters()), lr=2e-3)
    enc.train()
    for _ in range(200):
        loss = obj.loss(*enc(xs, xa))
        opt.zero_grad()
        loss.backward()
        opt.step()
    ids = table.sheet_id[rows]
    ranks = relevant_ranks(enc.embed_audio(audio), enc.embed_sheet(sheets), ids, ids)
    assert np.mean(ranks == 1) >= 0.9


def test_fit_writes_a_model_folder_that_loads_and_evaluates(tunes, tmp_path, ast_cmd):
    out = tmp_path / "model"
    proc = ast_cmd("fit", "--dataset", str(tunes), "--encoder", "cnn", "--loss", "cca",
                   "--param", "filters=[8,16,16,16]", "--epochs", "2", "--epoch-samples", "120",
                   "--batch-size", "40", "--val-candidates", "60", "--out", str(out),
                   "--hold-out", f"{tunes}:test",
                   "--register", "tiny", "--registry-file", str(tmp_path / "reg.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "epoch   1" in proc.stderr and "valid R@1" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "log.jsonl", "reference.npz",
                                                      "weights.pt"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["encoder"] == "cnn" and cfg["objective"] == "cca" and cfg["head"] == "cca"
    assert cfg["training"]["epochs"] == 2 and cfg["training"]["cca_refit"]["samples"] > 0
    test_ids = plugins.create("datasets", "rendered", root=tunes).piece_ids("test")
    assert cfg["held_out"] == {"from": [f"{tunes}:test"], "pieces": sorted(test_ids)}
    ds = plugins.create("datasets", "rendered", root=tunes)
    assert cfg["trained_on"] == sorted(ds.piece_ids("train") + ds.piece_ids("valid"))
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2] and all(e["pairs"] == 120 for e in log)
    # registered by name, loadable through the registry
    registry = load_registry([tmp_path / "reg.toml"])
    enc, _ = load_encoder("tiny", registry)
    assert enc.head is not None
    # the table, both directions, text and JSON; and the figure
    proc = ast_cmd("--registry", str(tmp_path / "reg.toml"), "eval", "snippets", "--model", "tiny",
                   "--split", "test", "--candidates", "100", "--figure", str(tmp_path / "q.png"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "a2s" in proc.stdout and "s2a" in proc.stdout and "MRR" in proc.stdout
    assert (tmp_path / "q.png").stat().st_size > 10_000
    proc = ast_cmd("eval", "snippets", "--model", str(out), "--candidates", "100",
                   "--direction", "a2s", "--json")
    report = json.loads(proc.stdout)
    assert set(report["directions"]) == {"a2s"}
    values = report["directions"]["a2s"]
    assert 0 < values["mrr"] <= 1 and values["median-rank"] >= 1
    assert report["candidates"] <= 100
    assert "training data" not in proc.stderr  # the test split: pieces it never saw
    # evaluating on its own training pieces is allowed, with a warning that says what it measures
    proc = ast_cmd("eval", "snippets", "--model", str(out), "--split", "train", "--candidates",
                   "100", "--json")
    assert proc.returncode == 0, proc.stderr
    n = len(ds.piece_ids("train"))
    assert f"{n} of these {n} pieces were in the model's training data" in proc.stderr


def test_hold_out_keeps_a_datasets_pieces_out_of_training_and_validation(tunes, tmp_path):
    from ast_toolkit.learn.training import Trainer

    def trainer(spec):
        return Trainer(tunes, tmp_path / "run", encoder="cnn", params=TINY,
                       config=FitConfig(hold_out=(spec,), **QUICK))

    ds = plugins.create("datasets", "rendered", root=tunes)
    t = trainer(f"{tunes}:test")  # the test split is not trained on anyway: nothing removed
    assert t.held_out == set(ds.piece_ids("test"))
    assert len(t.train_pairs) == len(ds.pair_table("train"))
    with pytest.raises(ParameterError, match=r"valid split has 0 pairs after holding out "
                       rf"{len(ds.piece_ids('valid'))} pieces"):
        trainer(f"{tunes}:valid")
    with pytest.raises(ParameterError, match=r"only 0 training pairs after holding out "
                       rf"{len(ds.piece_ids())} pieces"):
        trainer(f"{tunes}:all")
    with pytest.raises(ParameterError, match=r"--hold-out nowhere:test: nowhere: no such dataset"):
        trainer("nowhere:test")


def _weights(folder):
    return torch.load(folder / "weights.pt", weights_only=True)


def test_same_seed_same_weights_and_resume_continues_exactly(tunes, tmp_path):
    cfg = FitConfig(**QUICK, seed=3)
    a, b = tmp_path / "a", tmp_path / "b"
    fit(tunes, a, encoder="cnn", params=TINY, objective="ranking", config=cfg)
    fit(tunes, b, encoder="cnn", params=TINY, objective="ranking", config=cfg)
    wa, wb = _weights(a), _weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

    # killed during epoch 2 (after epoch 1's checkpoint), then resumed
    c = tmp_path / "c"

    def kill(step):
        if step.task == "train" and step.message is None and step.info.get("epoch") == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(tunes, c, encoder="cnn", params=TINY, objective="ranking", config=cfg, progress=kill)
    assert (c / "checkpoint.pt").exists() and not (c / "config.json").exists()
    with pytest.raises(Exception, match="not a model folder"):
        load_encoder(str(c))
    with pytest.raises(ParameterError, match="unfinished training run; pass --resume"):
        fit(tunes, c, encoder="cnn", params=TINY, objective="ranking", config=cfg)
    with pytest.raises(ParameterError, match="started with other settings"):
        fit(tunes, c, encoder="cnn", params=TINY, objective="ranking",
            config=FitConfig(**{**QUICK, "lr": 1e-4}, seed=3), resume=True)
    fit(tunes, c, encoder="cnn", params=TINY, objective="ranking", config=cfg, resume=True)
    wc = _weights(c)
    assert all(torch.equal(wa[k], wc[k]) for k in wa)
    with pytest.raises(ParameterError, match="already holds a trained model"):
        fit(tunes, c, encoder="cnn", params=TINY, objective="ranking", config=cfg)


def test_early_stopping_and_refinement_rounds(tunes, tmp_path):
    """With patience 1, every epoch that does not improve triggers a refinement round."""
    events = []
    cfg = FitConfig(**{**QUICK, "max_epochs": 6}, patience=1, refinements=1, lr=0.05)
    result = fit(tunes, tmp_path / "m", encoder="cnn", params=TINY, objective="infonce", config=cfg,
                 progress=events.append)
    refines = [s.info for s in events if s.info.get("event") == "refine"]
    epochs = [s.info for s in events if s.info.get("event") == "epoch"]
    if result.stopped == "early stopping":
        assert len(refines) == 1 and refines[0]["lr"] == pytest.approx(0.025)
    else:
        assert result.stopped == "max epochs" and len(epochs) == 6
    best = max(epochs, key=lambda i: i["valid_mrr"])
    assert result.best_epoch == best["epoch"]


def test_fit_refuses_bad_settings_with_clear_messages(tunes, tmp_path, ast_cmd):
    proc = ast_cmd("fit", "--dataset", str(tunes), "--encoder", "dcca", "--out", str(tmp_path / "d"))
    assert proc.returncode == 1
    assert "takes 136-bin spectrograms" in proc.stderr and "folk-dcca" in proc.stderr
    proc = ast_cmd("fit", "--dataset", "dmeo", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "did you mean 'demo'" in proc.stderr
    proc = ast_cmd("fit", "--dataset", str(tunes), "--encoder", "cnnn", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "cnn" in proc.stderr
    proc = ast_cmd("fit", "--dataset", str(tunes), "--loss", "rank", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "ranking" in proc.stderr
    proc = ast_cmd("fit", "--dataset", str(tunes), "--param", "filterz=[1]", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "filters" in proc.stderr
    proc = ast_cmd("fit", "--dataset", str(tunes), "--batch-size", "1", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "batch_size must be >= 2" in proc.stderr
    proc = ast_cmd("eval", "snippets", "--model", str(tmp_path / "nothing"))
    assert proc.returncode == 1 and "nothing" in proc.stderr


def test_register_model_replaces_an_entry(tmp_path):
    enc = plugins.create("encoders", "cnn", **TINY)
    enc.save(tmp_path / "m1")
    enc.save(tmp_path / "m2")
    reg = tmp_path / "reg.toml"
    register_model(reg, "mine", tmp_path / "m1")
    register_model(reg, "other", tmp_path / "m1")
    register_model(reg, "mine", tmp_path / "m2")
    registry = load_registry([reg])
    assert registry.model("mine").checkpoint_path.resolve() == (tmp_path / "m2").resolve()
    assert registry.model("other").checkpoint_path.resolve() == (tmp_path / "m1").resolve()
