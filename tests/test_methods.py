"""A new transfer method is one class registered in one place: transfer, curve, predict, export and
the report take it without any other change (the promise of accent.methods)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accent import methods
from accent.errors import AccentError
from accent.features import FeatureConfig, mfcc_statistics
from accent.inference import load_run
from accent.methods import get_method, method_names, registry
from accent.methods.base import SOURCE_FREE, Method
from accent.methods.fitted import Fitted
from accent.store import FeatureStore
from conftest import write_clip

TOY_FILE = "toy_means.npz"


class NearestMeanFitted(Fitted):
    """Nearest class mean of MFCC statistics; probabilities from a softmax of minus the distances."""

    def __init__(self, labels, feature_config, means: np.ndarray, rundir=None):
        super().__init__(labels, feature_config, rundir)
        self.means = np.asarray(means, np.float64)

    def _proba(self, X: np.ndarray) -> np.ndarray:
        d = -np.linalg.norm(X[:, None, :] - self.means[None], axis=2)
        e = np.exp(d - d.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict_logmels(self, logmels):
        return self._proba(np.stack([mfcc_statistics(np.asarray(x, np.float32)) for x in logmels]))

    def predict_proba(self, store, rows, progress=False):
        return self.predict_logmels([store.frames(int(i)) for i in rows])

    def save(self, rundir: Path) -> None:
        np.savez(rundir / TOY_FILE, means=self.means, labels=np.asarray(self.labels),
                 feature_config=np.asarray(json.dumps(self.feature_config.to_dict())))


class NearestMean(Method):
    name = "toy"
    model_file = TOY_FILE

    def fit(self, view, split):
        stats = np.stack([mfcc_statistics(np.asarray(view.frames(int(i)), np.float32)) for i in split.train])
        labels = view.index["label"].iloc[split.train].to_numpy()
        means = np.stack([stats[labels == lab].mean(0) for lab in split.labels])
        return NearestMeanFitted(split.labels, view.config, means)

    @classmethod
    def read_model_file(cls, path: Path) -> dict:
        with np.load(path) as z:
            return {"mode": cls.name, "labels": [str(x) for x in z["labels"]], "means": z["means"],
                    "feature_config": json.loads(str(z["feature_config"]))}

    @classmethod
    def load(cls, ckpt, run_json, rundir):
        return NearestMeanFitted(ckpt["labels"], FeatureConfig.from_dict(ckpt["feature_config"]),
                                 np.asarray(ckpt["means"]), rundir)


@pytest.fixture
def toy(monkeypatch):
    """The toy method registered for one test (the registry as it was afterwards)."""
    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))
    methods.register(NearestMean)
    return NearestMean


def test_the_registry_lists_the_builtin_methods_in_table_order():
    assert method_names() == ("baseline", "scratch", "extract", "finetune", "aligned", "phonetic")
    with pytest.raises(AccentError, match="unknown --mode 'nope'"):
        get_method("nope")


def test_a_registered_toy_method_goes_through_every_stage(toy, tiny_stores, tmp_path):
    from accent.curve import run_curve
    from accent.modelfile import export_model
    from accent.predict import predict_files
    from accent.report import build_report
    from accent.report.answer import series_group
    from accent.transfer import run_transfer

    assert "toy" in method_names()
    features = tiny_stores["target_big"]
    run = run_transfer(features, "toy", tmp_path / "toy", progress=False)
    assert run["mode"] == "toy" and run["metrics"]["test"]["n"] > 0
    table = pd.read_csv(tmp_path / "toy" / "predictions.csv")
    assert set(table["split"]) == {"val", "test"}

    loaded = load_run(tmp_path / "toy")
    exported = load_run(export_model(tmp_path / "toy", tmp_path / "toy.accent"))
    clip = write_clip(tmp_path / "clip.wav", sample_rate=loaded.feature_config.sample_rate)
    (entry,) = predict_files(tmp_path / "toy", [clip], k=2)
    (again,) = predict_files(tmp_path / "toy.accent", [clip], k=2)
    assert entry["top"] == again["top"] and len(entry["top"]) == 2
    frames = np.asarray(FeatureStore.open(features).frames(0), np.float32)
    np.testing.assert_allclose(exported.predict_logmel(frames), loaded.predict_logmel(frames))

    curve = run_curve(None, features, tmp_path / "curve", sizes=[2], seeds=[0], modes=["toy", "baseline"], jobs=1,
                      progress=False)
    assert set(curve["series"]) == {"toy", "baseline"}
    assert series_group("toy", "toy") == SOURCE_FREE
    report = build_report([tmp_path / "toy"], tmp_path / "report", tmp_path / "curve", n_boot=20,
                          embeddings=False, progress=False)
    assert "toy" in report.read_text()
