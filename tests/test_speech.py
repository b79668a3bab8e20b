"""No speech, no accent: steady noise and tones are refused before any model scores them (accent.speech),
while real and synthetic speech pass; `accent predict` says so in one line for a network, a baseline
and an extract run alike."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from accent.features import FeatureConfig
from accent.featurize import featurize_files
from accent.speech import MIN_CONTRAST_DB, level_contrast_db, no_speech_reason
from conftest import CV_DEV, SAA_8K, speak

RATE = 16000


DEFAULT, NARROW = FeatureConfig(), FeatureConfig(sample_rate=8000)


def logmels(paths, cfg: FeatureConfig = DEFAULT) -> list[np.ndarray]:
    """The log-mels `accent predict` computes (decode, trim, loudness, log-mel)."""
    found = list(featurize_files([str(p) for p in paths], cfg))
    assert all(frames is not None for _, frames, _ in found), [info for _, frames, info in found if frames is None]
    return [np.asarray(frames, np.float32) for _, frames, _ in found]


def non_speech(folder) -> dict:
    """White and brown noise, a hum and a tone, loud and quiet, 3 s each."""
    rng = np.random.default_rng(0)
    t = np.arange(3 * RATE) / RATE
    brown = np.cumsum(rng.normal(size=t.size))
    signals = {"white": rng.normal(size=t.size), "brown": brown - np.convolve(brown, np.ones(801) / 801, "same"),
               "hum": sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 8)),
               "tone": np.sin(2 * np.pi * 440 * t)}
    paths = {}
    for name, x in signals.items():
        for peak in (0.5, 0.005):
            paths[f"{name}-{peak}"] = folder / f"{name}-{peak}.wav"
            sf.write(paths[f"{name}-{peak}"], (peak * x / np.abs(x).max()).astype(np.float32), RATE)
    return paths


def test_noise_and_tones_are_refused_and_speech_is_not(tmp_path):
    refused = non_speech(tmp_path)
    for name, frames in zip(refused, logmels(refused.values())):
        reason = no_speech_reason(frames, DEFAULT)
        assert reason is not None and reason.startswith("no speech found") and "\n" not in reason, name
        assert level_contrast_db(frames, DEFAULT) < MIN_CONTRAST_DB / 2, (name, level_contrast_db(frames, DEFAULT))
    spoken = [speak("Please call Stella and ask her to bring these things with her from the store.",
                    tmp_path / f"speech-{voice}.wav", voice) for voice in ("en-us", "en-gb", "fr")]
    for frames in logmels(spoken):
        assert no_speech_reason(frames, DEFAULT) is None and level_contrast_db(frames, DEFAULT) > 2 * MIN_CONTRAST_DB
    assert no_speech_reason(np.zeros((5, 64), np.float32), DEFAULT) is None     # too short to tell: no verdict


def test_real_recordings_all_pass():
    """Every tenth clip of real Common Voice and Speech Accent Archive speech, as the models see it
    (benchmarks/speech_presence.py checks every clip and records the margins)."""
    if not CV_DEV.is_dir() or not SAA_8K.is_dir():
        pytest.skip("../shared/real-dev absent: the real-speech check needs cv-v1 and saa-8k")
    cv, saa = sorted(CV_DEV.glob("*.mp3"))[::10], sorted(SAA_8K.rglob("*.mp3"))[::10]
    for path, frames, cfg in zip([*cv, *saa], logmels(cv) + logmels(saa, NARROW), [DEFAULT] * len(cv) + [NARROW] * len(saa)):
        assert no_speech_reason(frames, cfg) is None, (path, level_contrast_db(frames, cfg))


@pytest.mark.parametrize("kind", ["network", "sklearn", "extract"])
def test_predict_names_no_accent_for_noise_with_any_model(kind, tiny_runs, tmp_path, capsys):
    from accent.cli import main

    noise = tmp_path / "noise.wav"
    sf.write(noise, np.random.default_rng(1).normal(0, 0.1, 2 * RATE).astype(np.float32), RATE)
    speech = speak("Please call Stella.", tmp_path / "speech.wav")
    capsys.readouterr()
    assert main(["predict", "--model", str(tiny_runs[kind]), "--json", str(noise), str(speech)]) == 1
    refused, scored = json.loads(capsys.readouterr().out)
    assert "no speech found" in refused["error"] and str(noise) in refused["error"] and "top" not in refused
    assert scored["top"] and "error" not in scored
    out = tmp_path / "predictions.csv"
    assert main(["predict", "--model", str(tiny_runs[kind]), "--out", str(out), str(noise), str(speech)]) == 1
    import pandas as pd

    table = pd.read_csv(out)
    assert "no speech found" in table.loc[0, "error"] and pd.isna(table.loc[1, "error"])
