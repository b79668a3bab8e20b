"""Pretrained backbones and the embedding cache, on tiny espeak-ng clips and tiny random-weight models."""
from __future__ import annotations

import shutil
import sys
import types

import numpy as np
import pytest
import torch

from accent.backbones import BACKBONES, get_backbone, parse_name
from accent.backbones import torchaudio_ssl as ssl
from accent.errors import AccentError, AudioError
from conftest import resemblyzer_or_skip as _resemblyzer_or_skip, speak as _speak

SR = 16000
# a wav2vec 2.0 / HuBERT / WavLM of the real architecture classes, shrunk to run in milliseconds
TINY = {
    "extractor_conv_layer_config": [(32, 10, 5), (32, 3, 2), (32, 3, 2), (32, 3, 2), (32, 3, 2), (32, 2, 2), (32, 2, 2)],
    "encoder_embed_dim": 48, "encoder_num_heads": 2, "encoder_num_layers": 3,
    "encoder_ff_interm_features": 96, "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 4,
}
SENTENCES = ["Please call Stella.", "Ask her to bring these things.", "Six spoons of fresh snow peas."]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from accent.audio import load_audio

    path = _speak(SENTENCES[1], tmp_path_factory.mktemp("speech") / "s.wav")
    return load_audio(path, SR)


# -- registry ----------------------------------------------------------------------------------

def test_registry_names_and_layer_syntax():
    assert {"resemblyzer", "wav2vec2_base", "hubert_base"} <= set(BACKBONES)
    assert parse_name("hubert_base@8") == ("hubert_base", {"layer": 8})
    assert parse_name("resemblyzer") == ("resemblyzer", {})
    for bad in ("nope", "resemblyzer@2", "hubert_base@top"):
        with pytest.raises(AccentError):
            parse_name(bad)


# -- torchaudio SSL models ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["wav2vec2_base", "hubert_base", "wavlm_base_plus"])
def test_ssl_random_init_plumbing(name):
    wave = np.random.default_rng(0).standard_normal(int(1.5 * SR)).astype(np.float32) * 0.1
    first = get_backbone(name, random_init=True, overrides=TINY, layer=2)
    again = get_backbone(name, random_init=True, overrides=TINY, layer=2)
    emb = first.embed_waveform(wave)
    assert emb.shape == (first.dim,) == (48,) and emb.dtype == np.float32 and np.isfinite(emb).all()
    np.testing.assert_array_equal(emb, again.embed_waveform(wave))  # seeded init, eval mode: deterministic
    other_layer = get_backbone(name, random_init=True, overrides=TINY, layer=3)
    assert not np.allclose(emb, other_layer.embed_waveform(wave))
    assert first.fingerprint != other_layer.fingerprint

    module = first.torch_module()
    out = module(torch.from_numpy(np.stack([wave[:SR], wave[SR // 2:]])))
    assert out.shape == (2, 48)
    out.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_ssl_layer_out_of_range_and_short_clip():
    with pytest.raises(AccentError, match="layer 9"):
        get_backbone("hubert_base@9", random_init=True, overrides=TINY)
    backbone = get_backbone("hubert_base", random_init=True, overrides=TINY)
    with pytest.raises(AudioError):
        backbone.embed_waveform(np.zeros(100, np.float32))


def test_ssl_long_clip_is_chunked_and_pooled():
    assert ssl._chunk_bounds(35, 10, 4) == [(0, 10), (10, 20), (20, 30), (30, 35)]
    assert ssl._chunk_bounds(32, 10, 4) == [(0, 10), (10, 20), (20, 32)]  # short tail joins the last chunk
    backbone = ssl.TorchaudioSSLBackbone("wav2vec2_base", random_init=True, overrides=TINY, chunk_s=1.0)
    wave = np.random.default_rng(1).standard_normal(int(2.5 * SR)).astype(np.float32) * 0.1
    frames = [backbone._embedder.frames(torch.from_numpy(wave[a:b])[None])[0] for a, b in ((0, SR), (SR, 5 * SR // 2))]
    expected = torch.cat(frames).mean(dim=0).detach().numpy()
    np.testing.assert_allclose(backbone.embed_waveform(wave), expected, rtol=1e-5, atol=1e-6)


def test_ssl_missing_weights_message(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    with pytest.raises(AccentError) as err:
        get_backbone("hubert_base")
    message = str(err.value)
    assert "\n" not in message
    assert "hubert_fairseq_base_ls960.pth" in message and "HUBERT_BASE.get_model()" in message
    assert str(tmp_path / "hub" / "checkpoints") in message


def test_ssl_loads_weights_from_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    with torch.random.fork_rng():
        torch.manual_seed(123)  # not the adapter's random-init seed, so loading must really happen
        model, _ = ssl._build_model("HUBERT_BASE", TINY)
    path = ssl.hub_checkpoint_path("HUBERT_BASE")
    path.parent.mkdir(parents=True)
    torch.save(model.state_dict(), path)
    backbone = get_backbone("hubert_base@2", overrides=TINY)
    wave = np.random.default_rng(2).standard_normal(SR).astype(np.float32) * 0.1
    with torch.no_grad():
        layers, _ = model.eval().extract_features(torch.from_numpy(wave)[None], num_layers=2)
    np.testing.assert_allclose(backbone.embed_waveform(wave), layers[-1][0].mean(0).numpy(), rtol=1e-5, atol=1e-6)
    assert path.name in backbone.fingerprint

    path.write_bytes(b"not a checkpoint")
    with pytest.raises(AccentError, match="cannot load"):
        get_backbone("hubert_base", overrides=TINY)


# -- Resemblyzer -------------------------------------------------------------------------------

def test_resemblyzer_embedding_shape_norm_determinism(speech):
    backbone = _resemblyzer_or_skip()
    emb = backbone.embed_waveform(speech)
    assert emb.shape == (256,) and emb.dtype == np.float32
    assert np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-5)
    assert (emb >= 0).all()  # ReLU before normalisation, as in GE2E
    np.testing.assert_array_equal(emb, backbone.embed_waveform(speech))
    random = get_backbone("resemblyzer", random_init=True)
    assert random.fingerprint != backbone.fingerprint
    assert np.dot(emb, random.embed_waveform(speech)) < 0.999


def test_resemblyzer_rejects_silence():
    backbone = _resemblyzer_or_skip()
    with pytest.raises(AudioError, match="no speech"):
        backbone.embed_waveform(np.zeros(2 * SR, np.float32))


def test_resemblyzer_mel_front_end_matches_librosa(speech):
    import librosa

    from accent.backbones import resemblyzer as rz

    _, embedder_cls = rz._torch_modules()
    ours = embedder_cls(torch.nn.Module()).mel(torch.from_numpy(speech)).numpy()
    reference = librosa.feature.melspectrogram(y=speech, sr=SR, n_fft=400, hop_length=160, n_mels=40)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= 1e-3 * reference.max()


def test_resemblyzer_matches_original_package(speech, monkeypatch):
    """Same vector as resemblyzer's own VoiceEncoder (imported with a stand-in for pkg_resources)."""
    backbone = _resemblyzer_or_skip()
    shim = types.ModuleType("pkg_resources")
    shim.get_distribution = lambda name: types.SimpleNamespace(version="0")
    monkeypatch.setitem(sys.modules, "pkg_resources", shim)
    try:
        import resemblyzer
        encoder = resemblyzer.VoiceEncoder("cpu", verbose=False)
    except Exception as exc:  # the original package is optional; our adapter does not import it
        pytest.skip(f"original resemblyzer not importable here: {type(exc).__name__}")
    original = encoder.embed_utterance(resemblyzer.preprocess_wav(speech))
    np.testing.assert_allclose(backbone.embed_waveform(speech), original, atol=1e-5)


def test_resemblyzer_fine_tuning_module(speech):
    backbone = _resemblyzer_or_skip()
    module = backbone.torch_module()
    crop = int(1.6 * SR)  # one partial window, as GE2E was trained
    crops = torch.from_numpy(np.stack([speech[:crop], speech[-crop:]]))
    out = module(crops)
    assert out.shape == (2, 256)
    out[:, 0].sum().backward()
    assert module.encoder.lstm.weight_ih_l0.grad is not None
    assert sum(p.numel() for p in module.parameters()) == pytest.approx(1.42e6, rel=0.01)
