"""The phone path on real Common Voice clips: espeak-ng renderings, phones carried onto a clip by DTW,
and the phonetic recipe's features and model file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accent import phones
from accent.errors import AccentError
from accent.features import FeatureConfig, log_mel_numpy
from conftest import have_espeak_library

CV = Path(__file__).resolve().parents[2] / "shared" / "real-dev" / "cv-v1"


needs_espeak = pytest.mark.skipif(not have_espeak_library(), reason=f"{phones.LIBRARY} absent (apt-get install espeak-ng)")
needs_cv = pytest.mark.skipif(not (CV / "cv-valid-dev.csv").is_file(), reason="../shared/real-dev/cv-v1 absent")


@pytest.fixture(scope="module")
def cv_clips():
    """Six real CV clips (three us, three indian) as the store prepares them, with their sentences."""
    from accent.featurize import prepare_clip

    df = pd.read_csv(CV / "cv-valid-dev.csv")
    df = pd.concat([df[df["accent"] == a].head(3) for a in ("us", "indian")])
    cfg = FeatureConfig()
    return [(prepare_clip(CV / f, cfg)[0], text, accent) for f, text, accent in zip(df["filename"], df["text"], df["accent"])]


def test_missing_library_names_the_package(monkeypatch):
    monkeypatch.setattr(phones, "LIBRARY", "libespeak-ng-absent.so.9")
    with pytest.raises(AccentError, match="apt-get install espeak-ng"):
        phones._Engine()


@needs_espeak
def test_render_gives_ordered_phones_inside_the_audio():
    rendering = phones.render("he moved about invisible but everyone could hear him")
    assert rendering is phones.render("he moved about invisible but everyone could hear him")   # cached
    duration = len(rendering.wave) / rendering.sample_rate
    starts = [p.start for p in rendering.phones]
    assert rendering.wave.dtype == np.float32 and 1.0 < duration < 6.0
    assert len(rendering.phones) > 20 and starts == sorted(starts)
    assert all(0 <= p.start < p.end <= duration + 1e-6 for p in rendering.phones)
    assert [p.name for p in rendering.phones[:4]] == ["h", "i:", "m", "u:"]
    with pytest.raises(AccentError, match="transcript"):
        phones.render("   ")


@needs_espeak
@needs_cv
def test_a_text_renders_the_same_whatever_was_rendered_before():
    """espeak-ng carries state between utterances; each rendering starts from the initialised state."""
    text = "Please call Stella and ask her to bring these things."
    first = phones.render.__wrapped__(text)
    for other in ("She sells sea shells by the shore.", "One, two, three!", "The lazy dog sleeps."):
        phones.render.__wrapped__(other)
    again = phones.render.__wrapped__(text)
    assert np.array_equal(first.wave, again.wave) and first.phones == again.phones


def test_real_clip_aligned_to_its_text(cv_clips):
    cfg = FeatureConfig()
    for wave, text, _ in cv_clips:
        logmel = log_mel_numpy(wave, cfg)
        rendering = phones.render(text)
        segments = phones.phone_segments(logmel, rendering, cfg)
        assert [s[0] for s in segments] == [p.name for p in rendering.phones]   # every phone, in order
        starts = np.array([s[1] for s in segments])
        ends = np.array([s[2] for s in segments])
        assert np.all(np.diff(starts) >= 0) and np.all(ends >= starts) and np.all(ends[:-1] <= starts[1:])
        assert np.mean(ends > starts) > 0.8          # few phones collapse to nothing
        # the phones cover the speech: most of the trimmed clip, and what they leave out is quieter
        covered = np.zeros(len(logmel), bool)
        covered[starts[0]:ends[-1]] = True
        energy = np.log(np.exp(logmel).sum(1))
        assert covered.mean() > 0.7
        assert covered.all() or energy[~covered].mean() < energy[covered].mean() - 2


@needs_espeak
@needs_cv
def test_phonetic_features_and_model_round_trip(cv_clips, tmp_path):
    pytest.importorskip("parselmouth")
    from accent.phonetic import VOWELS, PhoneticConfig, PhoneticModel, clip_features

    X = np.stack([clip_features(wave, text) for wave, text, _ in cv_clips])
    y = [accent for *_, accent in cv_clips]
    assert X.shape == (len(cv_clips), 3 * len(VOWELS) + 2) and np.isfinite(X).all()
    assert (np.abs(X) > 0).sum(1).min() >= 9     # every sentence has several vowel classes measured
    model = PhoneticModel(PhoneticConfig(n_nap=2)).fit(X, y)
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(1), 1) and list(model.classes_) == ["indian", "us"]
    loaded = PhoneticModel.load(model.save(tmp_path / "phonetic.npz"))
    assert np.allclose(loaded.predict_proba(X), proba) and loaded.config == model.config
    with pytest.raises(AccentError, match="blocks"):
        PhoneticConfig(blocks=("pitch",))
