"""Model cards are written from what a model folder recorded (``ast model card``)."""

from __future__ import annotations

import json

from ast_toolkit.learn.modelfile import read_model_config


def test_a_card_states_what_the_folder_recorded(model, ast_cmd, tmp_path):
    cfg = read_model_config(model)
    proc = ast_cmd("model", "card", str(model))
    assert proc.returncode == 0, proc.stderr
    card = proc.stdout
    epochs = cfg["training"]["epochs"]
    assert f"{epochs} epochs" in card and cfg["weights_sha256"] in card
    assert f"MRR {cfg['training']['valid']['mrr']:.3f}" in card
    # with a robustness results file: the model's rows become a table
    results = tmp_path / "robustness.json"
    row = {"model": "mine", "row": "clean", "label": "clean (training soundfont, tempo 1)",
           "candidates": 12, "a2s": {"n": 12, "r@1": 0.75, "mrr": 0.812, "median_rank": 1.0},
           "s2a": {"n": 12, "r@1": 0.5, "mrr": 0.61, "median_rank": 1.5}}
    results.write_text(json.dumps({"models": {"mine": str(model)}, "rows": [row],
                                   "matcher": "dtw", "machine": "test"}))
    out = tmp_path / "CARD.md"
    proc = ast_cmd("model", "card", str(model), "--robustness", str(results), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "| clean (training soundfont, tempo 1) | 12 | 0.81 (0.75) | 0.61 (0.50) |" in out.read_text()
    # a results file without this model: one clear line naming it
    results.write_text(json.dumps({"models": {"other": "elsewhere"}, "rows": []}))
    proc = ast_cmd("model", "card", str(model), "--robustness", str(results))
    assert proc.returncode != 0 and "robustness.json: has no rows of" in proc.stderr
    assert "Traceback" not in proc.stderr
