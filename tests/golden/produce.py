"""Golden outputs: one fixed-seed, one-thread pass over every stage, reduced to a comparable digest.

Covers pretrain, the four transfer modes, a 3-fold baseline, a small learning curve, evaluate and
predict on tiny generated stores, an aligned run and its evaluation on a generated same-passage store, and (when espeak-ng and the Resemblyzer weights are present) an
extract and a tiny fine-tune of Resemblyzer on a spoken store. The digest keeps, per run: run.json
and the checkpoint's plain values without timing fields, a SHA-256 and a summary of every tensor and
scikit-learn array, and predictions.csv verbatim. ``tests/test_golden.py`` recomputes it and
compares it with ``golden.json``: bit for bit on the recording machine (golden.json's ``platform``),
within a tolerance elsewhere (``compare.py``), so a refactor that changes any output fails.

    PYTHONPATH=$PWD .venv/bin/python tests/golden/produce.py            # rewrite golden.json
    PYTHONPATH=$PWD .venv/bin/python tests/golden/produce.py --old-runs tests/old_runs   # + run dirs
    PYTHONPATH=$PWD .venv/bin/python tests/golden/produce.py --out /tmp/other.json   # for measure.py
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden.json"
OLD_RUNS = HERE.parent / "old_runs"
sys.path.insert(0, str(HERE.parent))   # tests/ for conftest's tiny-store generator

from conftest import make_passage_store, make_tiny_store  # noqa: E402

TIMING_KEYS = {"train_seconds", "seconds"}
SPEECH_SKIPPED = "speech/skipped"   # why the speech entries were not produced (None when they were); not stored
PLATFORM = "platform"   # golden.json's record of the recording machine (platform_fingerprint); not produced
TINY_MODEL = {"channels": [24, 24], "kernels": [5, 3], "dilations": [1, 2], "pool_channels": 32, "embed_dim": 16}
TINY_TRAIN = {"min_crops_per_epoch": 64, "patience": 10, "precision": "float32"}
# The pass trains in float32 wherever it runs: "auto" would pick bfloat16 on a CPU with AMX and
# float32 elsewhere, and the two differ far beyond rounding tolerances (accent.devices.resolve_precision).
FLOAT32 = {"train": {"precision": "float32"}}
MODES = ("baseline", "scratch", "extract", "finetune")
OLD_RUN_MODES = ("pretrain", *MODES)
SPEECH_VOICES = {"us": ["en-us", "en-us+f2", "en-us+m3", "en-us+f4", "en-us+m5", "en-us+f1", "en-us+m7"],
                 "de": ["de", "de+f2", "de+m3", "de+f4", "de+m5", "de+f1", "de+m7"]}
SPEECH_SPLITS = ["train"] * 3 + ["val"] * 2 + ["test"] * 2
SENTENCES = ["Please call Stella.", "Ask her to bring these things with her from the store.",
             "Six spoons of fresh snow peas, five thick slabs of blue cheese.", "We also need a small plastic snake."]


# ---------------------------------------------------------------------------------------- digests
def platform_fingerprint() -> dict:
    """What decides the float rounding of a pass: a digest is compared bit for bit only on a machine
    with this same fingerprint (the CPU model and flags too: MKL and oneDNN pick kernels by them)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    fields = {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in lines if ":" in line)}
    flags = " ".join(sorted(fields.get("flags", "").split()))
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "numpy": np.__version__, "machine": platform.machine(), "cpu": fields.get("model name", platform.processor()),
            "cpu_flags": hashlib.sha256(flags.encode()).hexdigest()[:16]}


def _array(array) -> dict:
    """An array's SHA-256 (with dtype and shape) and, for floats, a summary that another machine's
    rounding leaves nearly unchanged (tests/golden/compare.py): mean, std and L2 norm to 7 digits."""
    a = np.ascontiguousarray(array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array))
    digest = {"sha": f"{a.dtype}{list(a.shape)}:{hashlib.sha256(a.tobytes()).hexdigest()[:16]}"}
    if np.issubdtype(a.dtype, np.floating) and a.size:
        x = a.astype(np.float64)
        digest.update({k: float(f"{v:.7g}") for k, v in
                       (("mean", x.mean()), ("std", x.std()), ("l2", np.sqrt(np.square(x).sum())))})
    return digest


def _plain(value, work: str):
    """JSON-comparable form: tensors/arrays hashed, timing keys dropped, the scratch folder anonymised."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return _array(value)
    if isinstance(value, dict):
        return {str(k): _plain(v, work) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, (list, tuple)):
        return [_plain(v, work) for v in value]
    if isinstance(value, str):
        return value.replace(work, "<WORK>")
    if isinstance(value, float) and np.isnan(value):
        return "nan"
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def run_digest(rundir: Path, work: str) -> dict:
    digest = {"run_json": _plain(json.loads((rundir / "run.json").read_text()), work),
              "predictions": (rundir / "predictions.csv").read_text()}
    if (rundir / "checkpoint.pt").is_file():
        digest["checkpoint"] = _plain(torch.load(rundir / "checkpoint.pt", map_location="cpu", weights_only=True),
                                      work)
    if (rundir / "aligned_model.npz").is_file():
        with np.load(rundir / "aligned_model.npz") as z:
            digest["aligned_model"] = {k: _array(z[k]) for k in sorted(z.files)}
    return digest


# ---------------------------------------------------------------------------------------- data
def tiny_stores(work: Path) -> dict[str, str]:
    return {"source": make_tiny_store(work / "source", [0, 1, 2, 3], {"train": 8, "val": 2, "test": 2}, seed=11),
            "target": make_tiny_store(work / "target", [0, 1, 2], {"train": 4, "val": 2, "test": 3}, seed=12,
                                      channel=0.5, frames=(150, 300))}


def test_audio(work: Path) -> list[Path]:
    """Two generated 16 kHz clips for ``accent predict``: harmonic tones swelling three times a second
    in noise, so that their speech-band level swings as a voice's does (a plain tone below 250 Hz is
    refused before any model sees it: accent.speech)."""
    import soundfile as sf

    rng = np.random.default_rng(7)
    paths = []
    for k, f0 in enumerate((180.0, 320.0)):
        t = np.arange(32000) / 16000
        voiced = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 6))
        wave = 0.2 * voiced * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.normal(size=t.size)
        paths.append(work / f"clip{k}.wav")
        sf.write(paths[-1], wave.astype(np.float32), 16000)
    return paths


def speech_store(work: Path) -> tuple[Path | None, str | None]:
    """(14 espeak-ng clips, featurized; None) or (None, why not) when espeak-ng or the Resemblyzer
    weights are missing."""
    if shutil.which("espeak-ng") is None:
        return None, "espeak-ng is not installed (apt-get install espeak-ng)"
    from accent.errors import AccentError

    try:
        from accent.backbones import get_backbone

        get_backbone("resemblyzer")
    except AccentError as exc:
        return None, f"the Resemblyzer weights are missing: {exc}"
    from accent.featurize import featurize
    from accent.manifest import finalize

    root = work / "speech"
    root.mkdir()
    rows = []
    for label, voices in SPEECH_VOICES.items():
        for k, (voice, split) in enumerate(zip(voices, SPEECH_SPLITS)):
            path = root / f"{label}{k}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), SENTENCES[k % len(SENTENCES)]],
                           check=True, capture_output=True)
            rows.append({"utt_id": f"{label}{k}", "path": str(path), "speaker": f"{label}{k}", "label": label,
                         "split": split})
    featurize(finalize(pd.DataFrame(rows), "synthetic"), root / "feats", workers=1, progress=False)
    return root / "feats", None


def resemblyzer_cache_name(features: str) -> str:
    """The cache file Resemblyzer embeddings of a store go to (its key: weights, features, clips)."""
    from accent.embeddings import EmbeddingCache, _source
    from accent.store import FeatureStore

    store = FeatureStore.open(features)
    return EmbeddingCache.for_store(store, _source("resemblyzer", store)).path.name


# ---------------------------------------------------------------------------------------- the pass
TINY_WAVEFORM = {"train": {"min_crops_per_epoch": 8, "batch_size": 8, "precision": "float32"}}   # a recipe overlay: few crops


def produce(work: Path, speech: bool = True) -> dict:
    """Run every stage under ``work`` and return the digest (see the module docstring)."""
    from accent.curve import run_curve
    from accent.evaluate import evaluate_run
    from accent.predict import predict_files
    from accent.training.pretrain import pretrain
    from accent.transfer import run_transfer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        w = str(work)
        stores = tiny_stores(work)
        runs = work / "runs"
        out: dict = {}
        pretrain(stores["source"], runs / "pretrain", crop_s=1.0, max_epochs=3, seed=0, progress=False,
                 model_overrides=TINY_MODEL, train_overrides=TINY_TRAIN)
        for mode in MODES:
            run_transfer(stores["target"], mode, runs / mode, source=runs / "pretrain", seed=1, max_epochs=2,
                         progress=False, recipe=FLOAT32)
        run_transfer(stores["target"], "baseline", runs / "baseline-3fold", folds=3, seed=2, progress=False)
        for name in (*OLD_RUN_MODES, "baseline-3fold"):
            out[f"run/{name}"] = run_digest(runs / name, w)
        for fold in range(3):
            out[f"run/baseline-3fold/fold{fold}"] = run_digest(runs / "baseline-3fold" / f"fold{fold}", w)

        run_curve(runs / "pretrain", stores["target"], work / "curve", sizes=[2, "all"], seeds=[0, 1],
                  modes=["baseline", "extract"], jobs=1, progress=False, recipe=FLOAT32)
        curve = pd.read_csv(work / "curve" / "curve.csv", dtype=str, keep_default_na=False)
        out["curve.csv"] = curve.drop(columns=[c for c in curve if c in TIMING_KEYS]).to_csv(index=False)
        # the embedding cache of our network: the key of a fixed run (the pre-refactor pretrain run;
        # a retrained run's checkpoint differs in its timing fields) and the vectors of this pass's run
        from accent.embeddings import recording_embeddings

        _, vectors = recording_embeddings(f"accent:{runs / 'pretrain'}", stores["target"], progress=False)
        out["cache/accent"] = {"vectors": _array(vectors)}
        if (OLD_RUNS / "pretrain").is_dir():
            recording_embeddings(f"accent:{OLD_RUNS / 'pretrain'}", stores["source"], progress=False)
            out["cache/accent"]["key_of_old_pretrain"] = sorted(
                p.name.rsplit("-", 1)[1] for p in (Path(stores["source"]) / "embeddings").glob("*.npz"))
        out["curve.json"] = _plain(json.loads((work / "curve" / "curve.json").read_text()), w)

        for mode in OLD_RUN_MODES:
            out[f"evaluate/{mode}"] = _plain(evaluate_run(runs / mode, stores["target" if mode != "pretrain"
                                                                             else "source"], split="test",
                                                           progress=False), w)
        clips = test_audio(work)
        for mode in OLD_RUN_MODES:
            out[f"predict/{mode}"] = _plain(predict_files(runs / mode, clips, k=2), w)

        passage = make_passage_store(work / "passage", 3, {"train": 4, "val": 2, "test": 3}, seed=13)
        run_transfer(passage, "aligned", runs / "aligned", seed=0, progress=False)
        out["run/aligned"] = run_digest(runs / "aligned", w)
        out["evaluate/aligned"] = _plain(evaluate_run(runs / "aligned", passage, split="test", progress=False), w)

        feats, out[SPEECH_SKIPPED] = speech_store(work) if speech else (None, "not asked for (speech=False)")
        if feats is not None:
            run_transfer(feats, "extract", runs / "extract-resemblyzer", backbone="resemblyzer", progress=False)
            run_transfer(feats, "finetune", runs / "finetune-resemblyzer", backbone="resemblyzer",
                         max_epochs=2, seed=0, progress=False, recipe=TINY_WAVEFORM)
            for name in ("extract-resemblyzer", "finetune-resemblyzer"):
                out[f"speech/run/{name}"] = run_digest(runs / name, w)
                out[f"speech/evaluate/{name}"] = _plain(evaluate_run(runs / name, feats, split="test",
                                                                     progress=False), w)
            out["speech/cache_key"] = resemblyzer_cache_name(stores["target"])
        return out
    finally:
        torch.set_num_threads(threads)


def copy_old_runs(work: Path, dest: Path) -> None:
    """The run directories of the tiny pass, as format fixtures (``tests/old_runs/<mode>``)."""
    for mode in OLD_RUN_MODES:
        target = dest / mode
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("checkpoint.pt", "run.json", "predictions.csv"):
            shutil.copy2(work / "runs" / mode / name, target / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-runs", type=Path, default=None, help="also copy the run directories here")
    parser.add_argument("--out", type=Path, default=GOLDEN, help="write the digest here (for measure.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        digest = produce(Path(tmp))
        digest.pop(SPEECH_SKIPPED)
        digest[PLATFORM] = platform_fingerprint()
        if args.old_runs is not None:
            copy_old_runs(Path(tmp), args.old_runs)
    args.out.write_text(json.dumps(digest, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out} ({len(digest)} entries)")


if __name__ == "__main__":
    main()
