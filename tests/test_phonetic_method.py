"""The ``phonetic`` method end to end on real Common Voice clips (5 accents x 6 clips of cv-v1):
measurements cached beside the store, fit, predict, passage match on the clip's own text, save,
load, export, serve; ``accent pretrain`` writing ``phonetic_source.npz`` and the learning curve's
``phonetic`` and ``phonetic-source`` series."""
from __future__ import annotations

import json
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accent import phones
from accent.errors import AccentError
from accent.store import FeatureStore, StoreView
from conftest import have_espeak_library

CV = Path(__file__).resolve().parents[2] / "shared" / "real-dev" / "cv-v1"
ACCENTS = ("us", "england", "australia", "indian", "canada")
WRONG_TEXT = "the quick brown fox jumps over the lazy dog near the river bank today"


pytestmark = [
    pytest.mark.skipif(not (CV / "cv-valid-dev.csv").is_file(), reason="../shared/real-dev/cv-v1 absent"),
    pytest.mark.skipif(not have_espeak_library(), reason=f"{phones.LIBRARY} absent (apt-get install espeak-ng)"),
]


@pytest.fixture(scope="module")
def cv_store(tmp_path_factory) -> str:
    """Six clips per accent of cv-v1 (four train, one val, one test), featurized as `accent featurize` does."""
    from accent.corpora import build_manifest
    from accent.featurize import featurize

    df, _ = build_manifest("commonvoice", CV)
    sub = pd.concat([df[df["label"] == a].head(6) for a in ACCENTS], ignore_index=True)
    sub["split"] = (["train"] * 4 + ["val", "test"]) * len(ACCENTS)
    out = tmp_path_factory.mktemp("cv") / "features"
    featurize(sub, out, workers=1, progress=False)
    return str(out)


@pytest.fixture(scope="module")
def run(cv_store, tmp_path_factory) -> Path:
    from accent.transfer import run_transfer

    out = tmp_path_factory.mktemp("runs") / "phonetic"
    run_transfer(cv_store, "phonetic", out, progress=False)
    return out


def test_fit_predict_save_load_export(run, cv_store, tmp_path):
    from accent.inference import load_run
    from accent.modelfile import export_model

    rj = json.loads((run / "run.json").read_text())
    assert rj["mode"] == "phonetic" and rj["labels"] == sorted(ACCENTS)
    assert (run / "phonetic_model.npz").is_file() and not (run / "checkpoint.pt").exists()
    assert len(list((Path(cv_store) / "phonetic").glob("*.npz"))) == 1   # cached beside the store
    np.load(run / "phonetic_model.npz", allow_pickle=False)               # plain arrays, no pickle

    store = FeatureStore.open(cv_store)
    rows = np.arange(len(store.index))
    fitted = load_run(run).fitted
    probs, match = fitted.score(store, rows)
    assert probs.shape == (30, 5) and np.allclose(probs.sum(1), 1)
    assert np.median(match) > 0.9                                         # real clips read their own text
    exported = load_run(export_model(run, tmp_path / "phonetic.accent")).fitted
    np.testing.assert_allclose(exported.predict_proba(store, rows), probs, atol=1e-12)

    path, text = store.index["path"].iat[5], store.index["text"].iat[5]
    own, own_match = exported.score_audio(path, text)
    np.testing.assert_allclose(own, probs[5], atol=1e-5)                 # a file scores as its store row
    _, wrong_match = exported.score_audio(path, WRONG_TEXT)
    assert own_match > fitted.match_threshold > wrong_match              # another sentence is flagged
    assert exported.off_passage(wrong_match) and exported.off_words == "does not read its text"
    with pytest.raises(AccentError, match="needs the transcript"):
        exported.predict_audio(path)
    with pytest.raises(AccentError, match="on the audio, not on log-mels"):
        exported.predict_logmels([store.frames(0)])


def test_clips_without_text_are_nan_rows_with_a_warning(run, cv_store):
    from accent.inference import load_run

    store = FeatureStore.open(cv_store)
    index = store.index.copy()
    index.loc[0, "text"] = ""
    with pytest.warns(UserWarning, match="1 of 30 clips .* no phonetic features"):
        probs = load_run(run).fitted.predict_proba(StoreView(store, index), np.array([0, 1]))
    assert np.isnan(probs[0]).all() and np.isfinite(probs[1]).all()
    with pytest.raises(AccentError, match="no text column"):
        load_run(run).fitted.predict_proba(StoreView(store, index.drop(columns="text")), np.array([0]))


def test_pretrain_writes_the_phonetic_source_and_the_curve_runs_both_series(cv_store, tmp_path, tiny_stores):
    from accent.curve import default_modes, run_curve
    from accent.training.pretrain import pretrain

    source = tmp_path / "source"
    pretrain(cv_store, source, max_epochs=1, progress=False)
    assert (source / "phonetic_source.npz").is_file()
    # the source measures only the training rows it fits on (their own cache entry, in their order)
    from accent.phonetic import PhoneticConfig, cache_path
    from accent.splits import splits_from_index
    from accent.store import FeatureStore

    store = FeatureStore.open(cv_store)
    train = splits_from_index(store.index, cv_store).train
    with np.load(cache_path(store, PhoneticConfig(), train)) as cached:
        assert len(cached["vectors"]) == len(train) < len(store.index)
    assert "phonetic" in default_modes(cv_store)
    assert "phonetic" not in default_modes(tiny_stores["target"])   # no text, no audio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curve = run_curve(source, cv_store, tmp_path / "curve", modes=["phonetic"], sizes=[3], seeds=[0],
                          jobs=1, progress=False)
    assert sorted(curve["series"]) == ["phonetic", "phonetic-source"]
    assert curve["balanced_accuracy"].between(0, 1).all()


def form(audio: Path, text: str | None = None) -> tuple[bytes, str]:
    """A multipart body with the clip as the ``audio`` file and, when given, ``text`` as a plain field."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"{audio.name}\"\r\n"
            "Content-Type: audio/mpeg\r\n\r\n").encode() + audio.read_bytes() + b"\r\n"
    if text is not None:
        body += f"--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n".encode()
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_serve_takes_the_text_field(run, cv_store):
    pytest.importorskip("uvicorn", reason="accent serve needs the serve extra (pip install -e '.[serve]')")
    from test_serve import request, running   # the serve tests' HTTP helpers (they skip without the extra)
    from accent.serve import create_app

    store = FeatureStore.open(cv_store)
    path, text = Path(store.index["path"].iat[5]), store.index["text"].iat[5]
    with running(create_app(run, timeout_s=60)) as url:
        status, answer, _ = request(f"{url}/api/predict", *form(path))
        assert status == 400 and "needs the transcript" in answer["error"]
        status, answer, _ = request(f"{url}/api/predict", *form(path, text))
        assert status == 200 and not answer[0]["off_passage"] and answer[0]["passage_match"] > 0.5, answer
        status, answer, _ = request(f"{url}/api/predict", *form(path, WRONG_TEXT))
        assert status == 200 and answer[0]["off_passage"], answer
