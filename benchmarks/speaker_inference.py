"""How well `--infer-speakers` recovers speakers, across thresholds, on real clips whose speakers are known.

    python benchmarks/speaker_inference.py [--shared ../shared] [--work data/cache/speaker_inference]

Sets (read-only under SHARED, never copied):

- **cv-ko**: the 29 clips of ``real-samples/commonvoice-ko-newest`` that are present, with their
  ``client_id`` (18 speakers, 22 same-speaker pairs): real Common Voice, one label (as a Common
  Voice accent bucket is one label).
- **saa-8k crops**: every ``real-dev/saa-8k`` recording is a different speaker; two 4 s crops of
  each (at 2 s and at 10 s, about Common Voice's clip length: a short clip is what makes voices hard
  to tell apart), clustered within each native language. Same-speaker pairs are two crops of one
  session, so recall here is optimistic; precision (voices of different people joined) is the point.
- **saa full-band crops**: the same, on the 108 ``real-samples/saa`` recordings at their original
  rates (16-48 kHz), within each native language.
- **cv-v1** (no speaker ids): how many speakers each threshold infers from the 539 labelled clips
  of ``real-dev/cv-v1``, within each accent, for scale.

Prints one markdown table: per threshold, pairwise precision and recall of same-speaker decisions
(:func:`accent.speakers.pairwise_scores`) and the number of speakers found. Embeddings are cached
in WORK (git-ignored).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accent.audio import load_audio  # noqa: E402
from accent.backbones.resemblyzer import ResemblyzerBackbone  # noqa: E402
from accent.corpora import build_manifest  # noqa: E402
from accent.speakers import cluster_voices, pairwise_scores, speaker_embeddings  # noqa: E402

THRESHOLDS = (0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50)
CROP_S = 4.0
CROP_STARTS_S = (2.0, 10.0)
KO = Path("real-samples/commonvoice-ko-newest")


def ko_clips(shared: Path) -> pd.DataFrame:
    """path, speaker, label of the Korean clips present, from validated.tsv's client_id."""
    root = shared / KO
    with open(root / "validated.tsv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    present = [r for r in rows if (root / "clips" / r["path"]).is_file()]
    return pd.DataFrame({"path": [str(root / "clips" / r["path"]) for r in present],
                         "speaker": [r["client_id"] for r in present], "label": "ko"})


def saa_crops(manifest: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Two 4 s crops of every recording of an SAA manifest and their Resemblyzer vectors."""
    backbone = ResemblyzerBackbone()
    rate, rows, X = backbone.sample_rate, [], []
    for path, speaker, label in zip(manifest["path"], manifest["speaker"], manifest["label"]):
        wave = load_audio(path, rate)
        for start in CROP_STARTS_S:
            crop = wave[int(start * rate):int((start + CROP_S) * rate)]
            rows.append((path, speaker, label))
            X.append(backbone.embed_waveform(crop))
    return pd.DataFrame(rows, columns=["path", "speaker", "label"]), np.stack(X)


def cached(work: Path, name: str, compute) -> tuple[pd.DataFrame, np.ndarray]:
    table, vectors = work / f"{name}.csv", work / f"{name}.npy"
    if not (table.is_file() and vectors.is_file()):
        df, X = compute()
        work.mkdir(parents=True, exist_ok=True)
        df.to_csv(table, index=False)
        np.save(vectors, X)
    return pd.read_csv(table, dtype=str, keep_default_na=False), np.load(vectors)


def clusters_within_labels(df: pd.DataFrame, X: np.ndarray, threshold: float) -> np.ndarray:
    found = np.empty(len(df), dtype=object)
    for label, rows in df.groupby("label").indices.items():
        found[rows] = [f"{label}-{n}" for n in cluster_voices(X[rows], threshold)]
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--work", default=str(REPO / "data" / "cache" / "speaker_inference"))
    args = ap.parse_args(argv)
    shared, work = Path(args.shared), Path(args.work)

    def embed_ko():
        df = ko_clips(shared)
        return df, speaker_embeddings(df["path"].tolist())

    def embed_cv1():
        df, _ = build_manifest("commonvoice", shared / "real-dev" / "cv-v1")
        df = df[["path", "speaker", "label"]]
        return df, speaker_embeddings(df["path"].tolist())

    ko, X_ko = cached(work, "cv_ko", embed_ko)
    saa, X_saa = cached(work, "saa8k_crops", lambda: saa_crops(build_manifest("folder", shared / "real-dev" / "saa-8k")[0]))
    full, X_full = cached(work, "saa_full_crops", lambda: saa_crops(build_manifest("saa", shared / "real-samples" / "saa")[0]))
    cv1, X_cv1 = cached(work, "cv_v1", embed_cv1)
    print(f"cv-ko: {len(ko)} clips, {ko.speaker.nunique()} speakers; saa-8k crops: {len(saa)} crops of "
          f"{saa.speaker.nunique()} speakers; saa full-band crops: {len(full)} crops of {full.speaker.nunique()} "
          f"speakers; cv-v1: {len(cv1)} clips\n")
    print("| threshold | cv-ko precision | cv-ko recall | cv-ko speakers (true 18) | saa-8k crops precision "
          "| saa-8k crops recall | saa-8k speakers (true 412) | saa full-band crops precision | saa full-band crops recall "
          "| saa full-band speakers (true 108) | cv-v1 speakers found |")
    print("|---" * 11 + "|")
    for t in THRESHOLDS:
        cells = [f"{t:.2f}"]
        for df, X in ((ko, X_ko), (saa, X_saa), (full, X_full)):
            found = clusters_within_labels(df, X, t)
            s = pairwise_scores(df["speaker"].to_numpy(), found)
            cells += [f"{s['precision']:.3f} ({s['pairs_correct']}/{s['pairs_joined']})",
                      f"{s['recall']:.3f} ({s['pairs_correct']}/{s['pairs_same']})", str(len(set(found)))]
        cells.append(str(len(set(clusters_within_labels(cv1, X_cv1, t)))))
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
