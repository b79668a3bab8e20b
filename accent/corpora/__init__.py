"""Corpus adapters: each turns one on-disk layout into manifest rows, and `accent manifest` writes them.

Every loader takes the corpus root and returns ``(DataFrame, DropLog)``: rows that already point at
existing audio, and a count of every row it dropped and why. :func:`build_manifest` then maps
labels, filters classes, splits by speaker and gives the frame the manifest schema; featurize calls
it directly for ``--corpus NAME --root DIR``. Adding a corpus means adding one loader to ``CORPORA``.
"""
from __future__ import annotations

import argparse
import inspect
from pathlib import Path

import pandas as pd

from accent.corpora.base import resolve_label_map
from accent.corpora.commonvoice import load_commonvoice
from accent.corpora.folder import load_folder
from accent.corpora.saa import load_saa
from accent.corpora.usermanifest import load_user_manifest
from accent.errors import AccentError
from accent.manifest import DropLog, apply_label_map, filter_classes, finalize, summarize, write_manifest
from accent.speakers import DEFAULT_THRESHOLD, VOICES_FILE, infer_speakers, unknown_speaker
from accent.splits import speaker_disjoint_split

CORPORA = {
    "saa": load_saa,
    "commonvoice": load_commonvoice,
    "folder": load_folder,
    "manifest": load_user_manifest,
}
# Loader options that only some corpora understand, as CLI flags for the error message.
CORPUS_OPTIONS = {"label_column": "--label-column", "release_splits": "--release-splits",
                  "keep_downvoted": "--keep-downvoted", "speaker_regex": "--speaker-regex"}


def build_manifest(corpus: str, root: str | Path, *, label_column: str | None = None, label_map=None,
                   min_speakers: int = 1, classes: list[str] | None = None, val_frac: float = 0.15,
                   test_frac: float = 0.15, seed: int = 0, release_splits: bool = False,
                   keep_downvoted: bool = False, speaker_regex: str | None = None,
                   passage: str | None = None, infer_speakers: bool = False,
                   speaker_threshold: float | None = None,
                   speaker_cache: str | Path | None = None) -> tuple[pd.DataFrame, DropLog]:
    """Load ``corpus`` at ``root``, map labels (``label_map``: a file path or a dict), filter classes,
    split speaker-disjoint (stratified, seeded) unless ``release_splits``, and finalize the schema.
    ``passage``: the text every recording reads, written where the corpus left ``text`` empty (marks a
    folder corpus as same-passage, :func:`accent.manifest.same_passage`). ``infer_speakers``: clips
    without a named speaker get one from voice clustering (:mod:`accent.speakers`) before classes
    are filtered by speaker count and split; ``speaker_cache``: the file that keeps their voice
    vectors for the next run (:data:`accent.speakers.VOICES_FILE`)."""
    loader = CORPORA.get(corpus)
    if loader is None:
        raise AccentError(f"unknown corpus {corpus!r}: choose one of {', '.join(CORPORA)}")
    accepted = inspect.signature(loader).parameters
    options = {"label_column": label_column, "release_splits": release_splits,
               "keep_downvoted": keep_downvoted, "speaker_regex": speaker_regex}
    given = {name: value for name, value in options.items() if value not in (None, False, "")}
    unsupported = [CORPUS_OPTIONS[name] for name in given if name not in accepted]
    if unsupported:
        raise AccentError(f"{', '.join(unsupported)} does not apply to corpus {corpus!r}")
    if "label_map" in accepted:  # the loader maps labels itself (Common Voice: several accents per row)
        df, log = loader(root, label_map=label_map, **given)
    else:
        df, log = loader(root, **given)
        if label_map is not None:
            mapping, name = resolve_label_map(label_map)
            df = apply_label_map(df, mapping, log, source=name)
    if speaker_threshold is not None and not infer_speakers:
        raise AccentError("--speaker-threshold applies only with --infer-speakers")
    if infer_speakers:
        df = _infer_speakers(df, log, speaker_threshold, speaker_cache)
    df = filter_classes(df, log, classes=classes, min_speakers=min_speakers)
    if not release_splits:
        df = df.assign(split=speaker_disjoint_split(df, val_frac=val_frac, test_frac=test_frac, seed=seed))
    df = finalize(df, corpus)
    if passage:
        df["text"] = df["text"].where(df["text"].astype(str).str.strip() != "", passage)
    return df, log


def _infer_speakers(df: pd.DataFrame, log: DropLog, threshold: float | None, cache) -> pd.DataFrame:
    n_unknown = int(unknown_speaker(df).sum())
    df = infer_speakers(df, DEFAULT_THRESHOLD if threshold is None else threshold, cache=cache)
    if n_unknown:  # the loader's remark that such clips are each their own speaker no longer holds
        log.notes[:] = [note for note in log.notes if "own speaker" not in note]
        log.note(f"speakers of {n_unknown} recording(s) inferred by clustering their voices within each label "
                 "(--infer-speakers): splits are approximately speaker-disjoint")
    return df


def add_cli(sub) -> None:
    p = sub.add_parser("manifest", help="read a corpus layout into a manifest CSV (one row per recording)",
                       description="Read a corpus into a manifest CSV and print what was kept and dropped.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", required=True, help=f"corpus layout: {', '.join(CORPORA)}")
    p.add_argument("--root", required=True, help="corpus folder (for --corpus manifest: the CSV/TSV table)")
    p.add_argument("--out", required=True, help="manifest CSV to write")
    add_corpus_options(p)
    p.set_defaults(func=run_manifest)


def add_corpus_options(p: argparse.ArgumentParser) -> None:
    """The options of :func:`build_manifest`, shared by `accent manifest` and `accent featurize --corpus`."""
    p.add_argument("--label-column", help="column holding the label (saa: native_language; "
                   "commonvoice: accents/accent, then variant; manifest: label)")
    p.add_argument("--label-map", help="CSV/TSV (from,to) or JSON mapping raw labels to classes; "
                   "'drop' or empty targets drop rows (commonvoice default: the packaged cv_accent_buckets.csv; "
                   "saa_country_to_cv_bucket.csv names the packaged SAA country table)")
    p.add_argument("--min-speakers", type=int, default=1, help="drop classes with fewer distinct speakers")
    p.add_argument("--classes", help="comma-separated classes to keep (others dropped)")
    p.add_argument("--val-frac", type=float, default=0.15, help="fraction of each class's speakers for validation")
    p.add_argument("--test-frac", type=float, default=0.15, help="fraction of each class's speakers for test")
    p.add_argument("--seed", type=int, default=0, help="seed of the speaker split")
    p.add_argument("--release-splits", action="store_true",
                   help="commonvoice: use the release's train/dev/test files as train/val/test; "
                        "manifest: use the table's split column")
    p.add_argument("--keep-downvoted", action="store_true",
                   help="commonvoice: keep clips with more down-votes than up-votes")
    p.add_argument("--speaker-regex", help="folder: regex on the path below the label folder; "
                   "group 1 (or the whole match) is the speaker")
    p.add_argument("--passage", help="the text every recording reads, for a one-passage corpus whose text column is "
                   "empty (SAA in a folder layout): marks it same-passage, so pretrain, transfer and curve use "
                   "the aligned recipe")
    p.add_argument("--infer-speakers", action="store_true",
                   help="give clips whose corpus names no speaker (Common Voice v1, a flat folder) a speaker "
                        "by clustering Resemblyzer voice embeddings within each label (offline)")
    p.add_argument("--speaker-threshold", type=float, default=None,
                   help="with --infer-speakers: cosine distance below which voices are joined "
                        "(default 0.35, chosen on real clips with known speakers)")


def manifest_from_args(args: argparse.Namespace, speaker_cache: str | Path | None = None) -> tuple[pd.DataFrame, DropLog]:
    """build_manifest with the options of :func:`add_corpus_options` (``speaker_cache``: where
    ``--infer-speakers`` keeps the voice vectors)."""
    classes = [c for c in args.classes.split(",") if c.strip()] if args.classes else None
    return build_manifest(args.corpus, args.root, label_column=args.label_column, label_map=args.label_map,
                          min_speakers=args.min_speakers, classes=classes, val_frac=args.val_frac,
                          test_frac=args.test_frac, seed=args.seed, release_splits=args.release_splits,
                          keep_downvoted=args.keep_downvoted, speaker_regex=args.speaker_regex,
                          passage=args.passage, infer_speakers=args.infer_speakers,
                          speaker_threshold=args.speaker_threshold, speaker_cache=speaker_cache)


def run_manifest(args: argparse.Namespace) -> int:
    df, log = manifest_from_args(args, speaker_cache=Path(args.out).parent / VOICES_FILE)
    out = write_manifest(df, args.out)
    print(summarize(df, log, title=f"manifest: {args.corpus} at {args.root}"))
    print(f"wrote {out} ({len(df)} rows)")
    return 0
