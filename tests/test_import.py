"""``ast model import --format ucasr`` and ``ast fit --init``.

The tests build a checkpoint of the authors' layout themselves (a reference
torch module named as luisfvc/ucasr names its parameters, with random
weights and statistics) and check that the imported ``ast`` model embeds
exactly as that reference does; the real published files are only read by
``benchmarks/pretrained.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ast_toolkit import plugins
from ast_toolkit.errors import IntegrityError
from ast_toolkit.learn.importing import import_model
from ast_toolkit.learn.modelfile import load_encoder


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.elu(self.bn1(self.conv1(x)))
        return F.max_pool2d(F.elu(self.bn2(self.conv2(x))), 2)


class _Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for i, (cin, cout) in enumerate(((1, 24), (24, 48), (48, 96), (96, 96)), 1):
            setattr(self, f"block{i}", _Block(cin, cout))
        self.conv = nn.Conv2d(96, 32, 1, bias=False)
        self.bn = nn.BatchNorm2d(32)

    def forward(self, x):
        for i in range(1, 5):
            x = getattr(self, f"block{i}")(x)
        return self.bn(self.conv(x)).flatten(1)


class _Net(nn.Module):
    def __init__(self, features: int, head: str) -> None:
        super().__init__()
        self.encoder = _Encoder()
        self.head_name = head
        setattr(self, head, nn.Linear(features, 32))

    def forward(self, x):
        return getattr(self, self.head_name)(self.encoder(x))


class _CCA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.U = nn.Parameter(torch.randn(32, 32, generator=g))
        self.V = nn.Parameter(torch.randn(32, 32, generator=g))
        self.mean1 = nn.Parameter(torch.randn(32, generator=g))
        self.mean2 = nn.Parameter(torch.randn(32, generator=g))
        for name in ("S11", "S22", "S12"):
            self.register_buffer(name, torch.eye(32) + 0.01 * torch.randn(32, 32, generator=g))
        self.register_buffer("eye_matrix", torch.eye(32))


class UcasrLike(nn.Module):
    """The authors' model at test time, written from the layout: sheet x, audio y,
    CCA, then L2 normalisation; sheet input 1 = paper, halved."""

    def __init__(self, frames: int = 84, head: str = "mlp_head") -> None:
        super().__init__()
        pooled = {42: 2, 84: 5, 168: 10}[frames]
        self.x_net = _Net(32 * 5 * 6, head)
        self.y_net = _Net(32 * 5 * pooled, head)
        self.cca_layer = _CCA()
        g = torch.Generator().manual_seed(2)
        with torch.no_grad():  # statistics that are not the identity, so that eval mode matters
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.normal_(0, 0.1, generator=g)
                    m.running_var.uniform_(0.5, 1.5, generator=g)
                    m.weight.uniform_(0.5, 1.5, generator=g)
                    m.bias.normal_(0, 0.1, generator=g)

    @torch.no_grad()
    def embed(self, paper: np.ndarray, spec: np.ndarray):
        x = torch.from_numpy(paper).float()[:, None]
        x = F.avg_pool2d(x, 2)  # cv2.resize to half size, bilinear = the mean of 2x2 pixels
        y = torch.from_numpy(spec).float()[:, None]
        cca = self.cca_layer
        xs = (self.x_net(x) - cca.mean1) @ cca.U
        ys = (self.y_net(y) - cca.mean2) @ cca.V
        return F.normalize(xs, dim=1).numpy(), F.normalize(ys, dim=1).numpy()


def _checkpoint(tmp_path, **kw):
    torch.manual_seed(0)
    ref = UcasrLike(**kw).eval()
    path = tmp_path / "params.pt"
    torch.save({"model_params": ref.state_dict()}, path)
    return ref, path


@pytest.mark.parametrize("head", ["mlp_head", "mlp_head_x"])
def test_imported_model_embeds_as_the_authors_layout(tmp_path, ast_cmd, head):
    ref, path = _checkpoint(tmp_path, head=head)
    out = tmp_path / "models" / "ucasr"
    ast_cmd("model", "import", "--format", "ucasr", str(path), "-o", str(out), check=True)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["params"]["audio_context"] == 84 and cfg["params"]["sheet_polarity"] == "paper"
    assert cfg["head"] == "cca" and cfg["dataset"]["preset"] == "msmd"
    assert cfg["imported"]["format"] == "ucasr" and len(cfg["imported"]["sha256"]) == 64
    encoder, _ = load_encoder(out)
    rng = np.random.default_rng(0)
    ink = (rng.random((3, 160, 200)) < 0.2).astype(np.float32)  # ast windows: 1 = ink
    spec = rng.random((3, 92, 84)).astype(np.float32)
    want_s, want_a = ref.embed(1.0 - ink, spec)
    np.testing.assert_allclose(encoder.embed_sheet(ink), want_s, atol=2e-5)
    np.testing.assert_allclose(encoder.embed_audio(spec), want_a, atol=2e-5)
    # the same file again: reported, not redone; another file into the folder: refused
    again = ast_cmd("model", "import", "--format", "ucasr", str(path), "-o", str(out),
                    "--exist-ok", "--json", check=True)
    assert json.loads(again.stdout)["already"] is True


def test_audio_context_is_read_from_the_checkpoint(tmp_path):
    ref, path = _checkpoint(tmp_path, frames=42)
    result = import_model(path, tmp_path / "m", format="ucasr")
    assert result.params["audio_context"] == 42
    encoder, _ = load_encoder(result.out)
    spec = np.random.default_rng(1).random((2, 92, 42)).astype(np.float32)
    np.testing.assert_allclose(encoder.embed_audio(spec), ref.embed(np.ones((2, 160, 200)), spec)[1],
                               atol=2e-5)


def _save(tmp_path, state, name="bad.pt"):
    path = tmp_path / name
    torch.save({"model_params": state}, path)
    return path


def test_unmapped_missing_and_misshapen_keys_are_refused(tmp_path):
    ref, _ = _checkpoint(tmp_path)
    state = ref.state_dict()
    out = tmp_path / "out"
    extra = _save(tmp_path, {**state, "x_net.attention.weight": torch.zeros(3)}, "extra.pt")
    with pytest.raises(IntegrityError, match=r"extra\.pt: key 'x_net\.attention\.weight' is not part"):
        import_model(extra, out, format="ucasr")
    missing = _save(tmp_path, {k: v for k, v in state.items() if k != "cca_layer.V"}, "missing.pt")
    with pytest.raises(IntegrityError, match=r"missing\.pt: the checkpoint lacks head\.proj_y"):
        import_model(missing, out, format="ucasr")
    wrong = _save(tmp_path, {**state, "x_net.mlp_head.weight": torch.zeros(32, 900)}, "wrong.pt")
    with pytest.raises(IntegrityError, match=r"sheet_net\.dense\.weight: shape \(32, 900\)"):
        import_model(wrong, out, format="ucasr")
    odd = _save(tmp_path, {**state, "y_net.mlp_head.weight": torch.zeros(32, 500)}, "odd.pt")
    with pytest.raises(IntegrityError, match="the audio head takes 500 features"):
        import_model(odd, out, format="ucasr")
    not_eye = _save(tmp_path, {**state, "cca_layer.eye_matrix": torch.zeros(32, 32)}, "eye.pt")
    with pytest.raises(IntegrityError, match="eye_matrix is expected to be an identity"):
        import_model(not_eye, out, format="ucasr")
    plain = tmp_path / "plain.pt"
    torch.save(state, plain)  # a bare state dict: not their file layout
    with pytest.raises(IntegrityError, match=r"plain\.pt: expected \{'model_params'"):
        import_model(plain, out, format="ucasr")
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(IntegrityError, match=r"notes\.pt: not a PyTorch checkpoint"):
        import_model(text, out, format="ucasr")
    assert not out.exists(), "a refused import leaves no folder"
    assert not list(tmp_path.glob(".partial-*"))


def test_fine_tuning_starts_from_the_imported_weights(tmp_path, tunes, ast_cmd):
    from ast_toolkit.learn.training import FitConfig, Trainer

    _, path = _checkpoint(tmp_path)
    start = tmp_path / "ucasr"
    import_model(path, start, format="ucasr")
    before = torch.load(start / "weights.pt", weights_only=True)
    trainer = Trainer(tunes, tmp_path / "steps", init=start,
                      config=FitConfig(epoch_samples=100, batch_size=50, lr=1e-4, seed=0))
    assert trainer.head_is_fixed and trainer.enc.config.sheet_polarity == "paper"
    now = trainer.enc.state_dict()
    assert all(torch.equal(before[k], now[k].to(before[k].dtype)) for k in before)
    trainer.train_epoch()
    after = trainer.enc.state_dict()
    moved = [k for k in before if before[k].dtype.is_floating_point
             and not torch.allclose(before[k], after[k].to(before[k].dtype))]
    # the pathways learn through the imported CCA projection, which stays as it was
    assert "sheet_net.dense.weight" in moved and "audio_net.blocks.0.0.weight" in moved
    assert not [k for k in moved if k.startswith("head.")], moved

    out = tmp_path / "tuned"
    proc = ast_cmd("fit", "-d", str(tunes), "--init", str(start), "-o", str(out), "--lr", "1e-4",
                   "--epochs", "1", "--epoch-samples", "100", "--batch-size", "50",
                   "--refinements", "0", "--val-candidates", "50", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["encoder"] == "cnn" and cfg["head"] == "cca"
    assert cfg["params"]["sheet_polarity"] == "paper" and cfg["params"]["audio_context"] == 84
    assert cfg["init"]["model"] == str(start.resolve()) and cfg["training"]["cca_refit"] is None
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [0, 1] and log[0]["loss"] is None  # the start, validated
    # a different encoder cannot start from it
    bad = ast_cmd("fit", "-d", str(tunes), "--init", str(start), "-e", "attention",
                  "-o", str(tmp_path / "x"))
    assert bad.returncode != 0 and "is a 'cnn' model" in bad.stderr


def test_importer_is_listed_as_a_plugin():
    assert "ucasr" in plugins.names("importers")
