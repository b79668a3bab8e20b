"""The saved scikit-learn model of extract and baseline runs: fit, store as arrays, predict.

Features are standardised (``StandardScaler`` fit on the training rows only) and classified. A
logistic regression is stored as plain arrays in checkpoint.pt (no pickle). Other scikit-learn
classifiers are saved with joblib in ``classifier.joblib``: joblib files are pickles and execute
code when loaded, so load such runs only from folders you wrote yourself.

:func:`fit_probe` is the linear probe that starts every fine-tuning (Kumar et al., 2022): a
strongly regularised logistic regression on frozen embeddings becomes the new head's weights.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import torch

from accent.errors import AccentError
from accent.layout import JOBLIB_FILE
from accent.metrics import softmax_rows

PROBE_C = 0.05  # strong L2 for the linear-probe head: a soft start that fine-tuning can still move
CLASSIFIERS = {
    "logreg": ("sklearn.linear_model.LogisticRegression", {"class_weight": "balanced", "max_iter": 3000}),
    "svm": ("sklearn.svm.SVC", {"class_weight": "balanced", "probability": True}),
    "rf": ("sklearn.ensemble.RandomForestClassifier", {"class_weight": "balanced", "n_estimators": 300}),
    "knn": ("sklearn.neighbors.KNeighborsClassifier", {"n_neighbors": 5}),
    "lda": ("sklearn.discriminant_analysis.LinearDiscriminantAnalysis", {}),
}


def make_classifier(name: str, seed: int):
    """A scikit-learn classifier by short name (``logreg``, ``svm``, ``rf``, ``knn``, ``lda``) or by
    full dotted path inside scikit-learn (``sklearn.linear_model.RidgeClassifierCV``)."""
    path, params = CLASSIFIERS.get(name, (name, {}))
    module_name, _, cls_name = path.rpartition(".")
    if not module_name.startswith("sklearn."):
        raise AccentError(f"unknown classifier {name!r}: use one of {', '.join(CLASSIFIERS)} or a dotted "
                          "scikit-learn class such as sklearn.svm.LinearSVC")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError):
        raise AccentError(f"classifier {path!r} does not exist in scikit-learn") from None
    if "random_state" in cls().get_params():
        params = {**params, "random_state": seed}
    return cls(**params)


def fit_classifier(X: np.ndarray, y: list[str], name: str, seed: int, out: Path) -> dict:
    """Standardise and fit; returns the arrays stored in checkpoint.pt (joblib file for non-linear models)."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    clf = make_classifier(name, seed).fit(scaler.transform(X), y)
    arrays = {"scaler_mean": torch.from_numpy(scaler.mean_.astype(np.float64)),
              "scaler_scale": torch.from_numpy(scaler.scale_.astype(np.float64)),
              "classes": [str(c) for c in clf.classes_], "classifier": name}
    if name == "logreg":
        arrays["coef"] = torch.from_numpy(clf.coef_.astype(np.float64))
        arrays["intercept"] = torch.from_numpy(clf.intercept_.astype(np.float64))
    else:
        import joblib

        out.mkdir(parents=True, exist_ok=True)
        joblib.dump(clf, out / JOBLIB_FILE)
        arrays["joblib"] = JOBLIB_FILE
    return arrays


def standardize(arrays: dict, X: np.ndarray) -> np.ndarray:
    """Apply the StandardScaler a run saved as arrays (fit on its training rows only)."""
    return (np.asarray(X, np.float64) - np.asarray(arrays["scaler_mean"])) / np.asarray(arrays["scaler_scale"])


def linear_proba(arrays: dict, X: np.ndarray) -> np.ndarray:
    """Standardise then apply a logistic regression stored as arrays (multinomial or binary)."""
    scores = standardize(arrays, X) @ np.asarray(arrays["coef"]).T + np.asarray(arrays["intercept"])
    if scores.shape[1] == 1:  # binary logistic regression: one column, positive class second
        scores = np.concatenate([np.zeros_like(scores), scores], axis=1)
    return softmax_rows(scores)


def classifier_proba(arrays: dict, X: np.ndarray, rundir: Path) -> np.ndarray:
    """Probabilities (rows x classes) from a saved classifier; ``rundir`` holds its joblib file if any."""
    if "coef" in arrays:
        return linear_proba(arrays, X)
    import joblib  # a pickle: only for runs this user wrote (see module docstring)

    return joblib.load(rundir / arrays["joblib"]).predict_proba(standardize(arrays, X))


def fit_probe(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) of a strongly regularised, class-balanced logistic regression on X, as the
    ``n_classes`` rows of a linear layer (a binary regression's single row becomes two)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=PROBE_C, class_weight="balanced", max_iter=3000, random_state=seed).fit(X, y)
    weight, bias = clf.coef_, clf.intercept_
    if weight.shape[0] == 1:  # binary LR has one score column for the second class
        weight, bias = np.vstack([-weight / 2, weight / 2]), np.array([-bias[0] / 2, bias[0] / 2])
    return weight, bias
