"""Encoder plugins: contract over every registered encoder, and each one's specifics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ast_toolkit import plugins
from ast_toolkit.errors import IntegrityError, ParameterError, UnknownNameError
from ast_toolkit.learn.modelfile import load_encoder

ENCODERS = plugins.names("encoders")


def _inputs(enc, n=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, *enc.sheet_window), dtype=np.float32),
            rng.random((n, *enc.audio_shape), dtype=np.float32))


def _train_steps(enc, steps=2):
    """A few real optimiser steps, so weights and BatchNorm statistics move."""
    opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
    enc.train()
    for i in range(steps):
        s, a = _inputs(enc, 8, seed=i)
        zs, za = enc(torch.from_numpy(s), torch.from_numpy(a))
        loss = -(torch.nn.functional.normalize(zs) * torch.nn.functional.normalize(za)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    enc.eval()


@pytest.mark.parametrize("name", ENCODERS)
def test_forward_backward_and_unit_length(name):
    enc = plugins.create("encoders", name)
    assert enc.dim == 32 and len(enc.sheet_window) == 2 and len(enc.audio_shape) == 2
    s, a = _inputs(enc, 4)
    zs, za = enc(torch.from_numpy(s), torch.from_numpy(a))
    assert zs.shape == za.shape == (4, enc.dim)
    (zs.sum() + za.sum()).backward()
    grads = [p.grad for p in enc.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    es, ea = enc.embed_sheet(s), enc.embed_audio(a)
    assert es.shape == ea.shape == (4, enc.dim) and es.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(es, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ea, axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("head", ["none", "cca"])
def test_save_and_load_reproduce_embeddings(name, head, tmp_path):
    enc = plugins.create("encoders", name)
    _train_steps(enc)
    if head == "cca":
        enc.set_head("cca")
        enc.train()
        with torch.no_grad():
            s, a = _inputs(enc, 40, seed=7)
            enc(torch.from_numpy(s), torch.from_numpy(a))  # CCA running statistics
        enc.eval()
    s, a = _inputs(enc, 5, seed=3)
    enc.save(tmp_path / "m")
    loaded, cfg = load_encoder(str(tmp_path / "m"))
    assert type(loaded) is type(enc) and cfg["encoder"] == name and cfg["head"] == head
    np.testing.assert_array_equal(loaded.embed_sheet(s), enc.embed_sheet(s))
    np.testing.assert_array_equal(loaded.embed_audio(a), enc.embed_audio(a))


def test_a_checkpoint_of_another_encoder_or_version_is_refused(tmp_path):
    cnn = plugins.create("encoders", "cnn")
    cnn.save(tmp_path / "m")
    with pytest.raises(IntegrityError, match="trained with encoder 'cnn'.*cannot be loaded as 'attention'"):
        plugins.load("encoders", "attention").load(tmp_path / "m")
    # weights of another architecture under a matching config: named, not a torch traceback
    plugins.create("encoders", "dcca").save(tmp_path / "d")
    cfg = json.loads((tmp_path / "d" / "config.json").read_text())
    (tmp_path / "m" / "weights.pt").write_bytes((tmp_path / "d" / "weights.pt").read_bytes())
    with pytest.raises(IntegrityError, match=r"weights\.pt: content differs from the checksum"):
        load_encoder(str(tmp_path / "m"))  # config.json records the weights it was saved with
    m_cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    m_cfg["weights_sha256"] = cfg["weights_sha256"]  # a config edited to match them
    (tmp_path / "m" / "config.json").write_text(json.dumps(m_cfg))
    with pytest.raises(IntegrityError, match=r"weights\.pt: weights do not fit encoder 'cnn'"):
        load_encoder(str(tmp_path / "m"))
    cfg["format"] = 99
    (tmp_path / "d" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(IntegrityError, match="model format 99; this toolkit .* reads format 1"):
        load_encoder(str(tmp_path / "d"))
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "weights.pt").write_bytes(b"not a checkpoint")
    e_cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    e_cfg.pop("weights_sha256")  # a model saved before weights were checksummed
    (tmp_path / "e" / "config.json").write_text(json.dumps(e_cfg))
    with pytest.raises(IntegrityError, match="cannot read weights"):
        load_encoder(str(tmp_path / "e"))


def test_attention_weights_sum_to_one_and_uniform_is_identity():
    from ast_toolkit_plugins.encoders._layers import SoftAttention

    enc = plugins.create("encoders", "attention")
    _, a = _inputs(enc, 3)
    w = enc.attention_weights(a)
    assert w.shape == (3, enc.audio_shape[1])
    np.testing.assert_allclose(w.sum(axis=1), 1, atol=1e-5)
    # the attention conv starts at zero: training starts from uniform attention
    np.testing.assert_allclose(w, 1 / enc.audio_shape[1], atol=1e-6)
    x = torch.from_numpy(a)[:, None]
    uniform = torch.full((3, x.shape[-1]), 1 / x.shape[-1])
    torch.testing.assert_close(SoftAttention.apply(x, uniform), x)
    # non-uniform weights do change the input, column by column
    peaked = torch.softmax(torch.arange(x.shape[-1], dtype=torch.float32).repeat(3, 1), dim=1)
    y = SoftAttention.apply(x, peaked)
    ratio = (y / x.clamp_min(1e-6))[0, 0, 0]
    torch.testing.assert_close(ratio, peaked[0] * x.shape[-1], rtol=1e-4, atol=1e-4)
    # after training steps the weights are still a distribution
    _train_steps(enc)
    w = enc.attention_weights(a)
    np.testing.assert_allclose(w.sum(axis=1), 1, atol=1e-5)


def test_architectures_follow_the_seeds():
    cnn = plugins.create("encoders", "cnn")
    assert cnn.sheet_window == (160, 200) and cnn.sheet_shape == (80, 100)
    assert cnn.audio_shape == (92, 42)
    convs = [m.out_channels for m in cnn.sheet_net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [24, 24, 48, 48, 96, 96, 96, 96, 32]
    assert isinstance(cnn.sheet_net.dense, torch.nn.Linear) and cnn.sheet_net.dense.out_features == 32
    att = plugins.create("encoders", "attention")
    assert att.audio_shape == (92, 84)
    assert att.audio_net.attention.net.project.out_channels == 84  # one logit per input frame
    dcca = plugins.create("encoders", "dcca")
    assert dcca.sheet_shape == (40, 100) and dcca.audio_shape == (136, 100)
    convs = [m.out_channels for m in dcca.audio_net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [16, 16, 32, 32, 64, 64, 64, 64, 32]
    longer = plugins.create("encoders", "attention", audio_context=168)
    assert longer.audio_shape == (92, 168)


def test_timm_backbones_by_name():
    enc = plugins.create("encoders", "timm", sheet_backbone="resnet10t", audio_backbone="mobilenetv3_small_050")
    assert type(enc.sheet_net.backbone).__name__ == "ResNet"
    assert type(enc.audio_net.backbone).__name__ == "MobileNetV3"
    s, a = _inputs(enc, 2)
    assert enc.embed_sheet(s).shape == (2, 32)
    with pytest.raises(UnknownNameError, match="resnet18"):
        plugins.create("encoders", "timm", sheet_backbone="resnet181")


def test_bad_parameters_and_inputs_are_named():
    with pytest.raises(ParameterError, match="audio_contxt.*audio_context"):
        plugins.create("encoders", "cnn", audio_contxt=84)
    with pytest.raises(ParameterError, match="audio_context must be int"):
        plugins.create("encoders", "cnn", audio_context="long")
    enc = plugins.create("encoders", "cnn")
    with pytest.raises(ParameterError, match=r"sheet snippets must be \(160, 200\)"):
        enc.embed_sheet(np.zeros((1, 80, 100), np.float32))
    with pytest.raises(ParameterError, match=r"spectrogram excerpts must be \(92, 42\)"):
        enc.embed_audio(np.zeros((1, 92, 84), np.float32))
