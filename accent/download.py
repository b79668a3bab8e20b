"""Getting the corpora: resumable HTTP downloads, checksums and safe archive extraction.

    accent download saa          Speech Accent Archive: the Kaggle zip (--archive) or one request per speaker
    accent download commonvoice  a Common Voice tarball (local path or signed URL), verified then extracted
    accent download synthetic    both synthetic layouts, to try the pipeline without downloading anything

This module holds what is particular to each corpus and the `accent download` command; the generic
fetch, checks and extraction, and why they take such care, are in :mod:`accent.fetch`.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal

from accent.errors import AccentError
from accent.executors import add_executor_options
from accent.fileio import atomic_path
from accent.fetch import (DEFAULT_BACKOFF_S, DEFAULT_RATE, DEFAULT_RETRIES, DOWNLOADS_DIR, MARKER_FORMAT,
                          SAFE_NAME, TIMEOUT_S, RateLimiter, RemoteMissing, RetryPolicy, done_marker, fetch,
                          human_size, install_archive, normalise_sha256, obtain_archive, public_url, verify_or_reject)
from accent.layout import CV_VALIDATED, SAA_AUDIO_SUFFIX, SAA_METADATA, SAA_RECORDINGS

SAA_URL_TEMPLATE = "https://accent.gmu.edu/soundtracks/{filename}.mp3"
SAA_MISSING_FLAG = "file_missing?"
SAA_MISSING_REPORT = "missing.csv"
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
CV_DEFAULT_ARCHIVE_NAME = "commonvoice.tar.gz"


# ------------------------------------------------------------------------------------- Common Voice

def download_commonvoice(archive: str, out: str | Path, *, sha256: str | None = None, size: int | None = None,
                         download_dir: str | Path | None = None, policy: RetryPolicy = RetryPolicy(),
                         timeout: float = TIMEOUT_S) -> dict:
    """Fetch (if a URL), verify and safely extract a Common Voice tarball into ``out``; returns the marker.

    The marker records the corpus root(s): the folder(s) holding ``validated.tsv``, relative to ``out``
    (for example ``cv-corpus-17.0-2024-03-15/en``), which is what ``accent manifest`` needs.
    """
    out = Path(out)
    sha256 = normalise_sha256(sha256)
    marker = done_marker(out, sha256, "commonvoice")
    if marker is not None:
        _print_cv_roots(out, marker)
        return marker
    path, downloaded = obtain_archive(archive, out, download_dir and Path(download_dir), policy, timeout,
                                       CV_DEFAULT_ARCHIVE_NAME)
    digest, nbytes = verify_or_reject(path, downloaded, sha256, size)
    marker = {"format": MARKER_FORMAT, "corpus": "commonvoice", "archive": path.name, "sha256": digest,
              "size": nbytes, "verified": bool(sha256)}
    install_archive(path, out, marker, _find_cv_roots)
    print(f"commonvoice: extracted {path.name} ({human_size(nbytes)}, sha256 {digest[:16]}...) into {out}")
    _print_cv_roots(out, marker)
    if downloaded:
        print(f"the archive is kept at {path}; delete it to free {human_size(nbytes)}")
    return marker


def _find_cv_roots(tmp: Path, marker: dict) -> Path:
    roots = sorted(p.parent.relative_to(tmp).as_posix() for p in tmp.rglob(CV_VALIDATED))
    marker["corpus_roots"] = roots
    marker["corpus_root"] = roots[0] if len(roots) == 1 else None
    return tmp


def _print_cv_roots(out: Path, marker: dict) -> None:
    roots = marker.get("corpus_roots") or []
    if not roots:
        print(f"warning: no {CV_VALIDATED} in {out}: is this a Common Voice archive?")
    for root in roots:
        print(f"corpus root (holds {CV_VALIDATED}): {out / root}")
        print(f"  next: accent manifest --corpus commonvoice --root {out / root} --out MANIFEST.csv")


# ------------------------------------------------------------------------------- Speech Accent Archive

def download_saa_archive(archive: str, out: str | Path, *, sha256: str | None = None, size: int | None = None,
                         download_dir: str | Path | None = None, policy: RetryPolicy = RetryPolicy(),
                         timeout: float = TIMEOUT_S) -> dict:
    """Install the Kaggle zip as ``out/speakers_all.csv`` + ``out/recordings/*.mp3``, whatever its nesting."""
    out = Path(out)
    sha256 = normalise_sha256(sha256)
    marker = done_marker(out, sha256, "saa")
    if marker is not None:
        return marker
    path, downloaded = obtain_archive(archive, out, download_dir and Path(download_dir), policy, timeout,
                                       "speech-accent-archive.zip")
    digest, nbytes = verify_or_reject(path, downloaded, sha256, size)
    marker = {"format": MARKER_FORMAT, "corpus": "saa", "archive": path.name, "sha256": digest, "size": nbytes,
              "verified": bool(sha256), "corpus_root": "."}
    install_archive(path, out, marker, _arrange_saa)
    n_audio = len(list((out / SAA_RECORDINGS).glob(f"*{SAA_AUDIO_SUFFIX}")))
    print(f"saa: {n_audio} recordings and {SAA_METADATA} in {out}")
    print(f"  next: accent manifest --corpus saa --root {out} --out MANIFEST.csv")
    return marker


def _arrange_saa(tmp: Path, marker: dict) -> Path:
    """Normalise the Kaggle nesting (a top folder, ``recordings/recordings/``) to the flat layout."""
    csvs = sorted(tmp.rglob(SAA_METADATA), key=lambda p: len(p.parts))
    if not csvs:
        raise AccentError(f"the archive has no {SAA_METADATA}: is it the Kaggle Speech Accent Archive zip "
                          "(kaggle datasets download -d rtatman/speech-accent-archive)?")
    root = csvs[0].parent
    counts = Counter(mp3.parent for mp3 in tmp.rglob(f"*{SAA_AUDIO_SUFFIX}")
                     if not mp3.name.startswith("._") and "__MACOSX" not in mp3.parts)  # skip macOS zip debris
    if not counts:
        raise AccentError(f"the archive has no {SAA_AUDIO_SUFFIX} recordings: is it the Kaggle Speech Accent "
                          "Archive zip?")
    audio_dir = counts.most_common(1)[0][0]
    wanted = root / SAA_RECORDINGS
    if audio_dir != wanted:
        staged = tmp / f".{SAA_RECORDINGS}-staged"
        audio_dir.replace(staged)
        if wanted.exists():
            if any(p.is_file() for p in wanted.rglob("*")):
                raise AccentError(f"the archive holds other files in {SAA_RECORDINGS}/ besides the recordings: "
                                  "extract it by hand")
            shutil.rmtree(wanted)
        staged.replace(wanted)
    return root


def download_saa_speakers(speakers_csv: str | Path, out: str | Path, *, url_template: str = SAA_URL_TEMPLATE,
                          limiter: RateLimiter | None = None, policy: RetryPolicy = RetryPolicy(),
                          timeout: float = TIMEOUT_S) -> dict:
    """One request per speaker into ``out/recordings/``; returns counts and writes ``out/missing.csv``.

    Rows marked ``file_missing?`` TRUE are not requested. Files already complete are skipped without a
    request; partial ones resume. A 404, or a file still failing after its retries, is recorded in
    ``missing.csv`` (filename, reason, url) and the crawl goes on.
    """
    out = Path(out)
    speakers_csv = Path(speakers_csv)
    if "{filename}" not in url_template:
        raise AccentError(f"--url-template {url_template!r} lacks '{{filename}}' (e.g. {SAA_URL_TEMPLATE})")
    wanted, flagged, unsafe = _read_speakers(speakers_csv)
    out.mkdir(parents=True, exist_ok=True)
    copy = out / SAA_METADATA
    if not (copy.exists() and copy.samefile(speakers_csv)):
        with atomic_path(copy) as tmp:
            shutil.copyfile(speakers_csv, tmp)
    counts = {"requested": 0, "downloaded": 0, "present": 0, "missing": 0, "failed": 0,
              "flagged_missing": flagged}
    missing = [(name, "unsafe file name (not requested)", "") for name in unsafe]
    recordings = out / SAA_RECORDINGS
    for name in tqdm(wanted, desc="saa recordings", unit="file", file=sys.stderr):
        dest = recordings / f"{name}{SAA_AUDIO_SUFFIX}"
        if dest.exists():
            counts["present"] += 1
            continue
        url = _format_url(url_template, name)
        counts["requested"] += 1
        try:
            fetch(url, dest, policy=policy, limiter=limiter, timeout=timeout, progress=False)
            counts["downloaded"] += 1
        except RemoteMissing:
            missing.append((name, "not found (HTTP 404)", url))
            counts["missing"] += 1
        except AccentError as exc:
            missing.append((name, str(exc), url))
            counts["failed"] += 1
    report = out / SAA_MISSING_REPORT
    _write_missing(report, missing)
    print(f"saa: {counts['downloaded']} downloaded, {counts['present']} already present, "
          f"{len(missing)} missing (see {report}), {flagged} rows marked {SAA_MISSING_FLAG} TRUE not requested")
    if counts["failed"]:
        print(f"saa: {counts['failed']} recordings failed after retries; rerun to try them again", file=sys.stderr)
    counts["missing_total"] = len(missing)
    return counts


def _format_url(template: str, filename: str) -> str:
    try:
        return template.format(filename=urllib.parse.quote(filename))
    except (KeyError, IndexError, ValueError):
        raise AccentError(f"--url-template {template!r} has placeholders other than {{filename}}") from None


def _read_speakers(path: Path) -> tuple[list[str], int, list[str]]:
    """(file names to request, rows marked file_missing? TRUE, unsafe names) from speakers_all.csv."""
    if not path.is_file():
        raise AccentError(f"speakers file {path} not found: give the Speech Accent Archive's {SAA_METADATA} "
                          "with --speakers-csv")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if "filename" not in (reader.fieldnames or []):
            raise AccentError(f"{path} lacks column 'filename': expected the Speech Accent Archive's {SAA_METADATA}")
        wanted: dict[str, None] = {}  # ordered and de-duplicated
        unsafe: list[str] = []
        flagged = 0
        for row in reader:
            if (row.get(SAA_MISSING_FLAG) or "").strip().lower() in TRUE_WORDS:
                flagged += 1
                continue
            name = (row["filename"] or "").strip()
            if name.lower().endswith(SAA_AUDIO_SUFFIX):
                name = name[:-len(SAA_AUDIO_SUFFIX)]
            if not name:
                continue
            if SAFE_NAME.match(name):
                wanted[name] = None
            elif name not in unsafe:
                unsafe.append(name)
    return list(wanted), flagged, unsafe


def _write_missing(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", "reason", "url"])
        writer.writerows((name, reason, public_url(url) if url else "") for name, reason, url in rows)


# ----------------------------------------------------------------------------------------- synthetic

SYNTHETIC_LAYOUTS = ("saa", "cv")


def download_synthetic(out: str | Path, seed: int = 0, speakers_per_accent: int | None = None,
                       workers: int | None = None, executor: str = "processes", scheduler: str | None = None) -> list[Path]:
    """Both synthetic corpora, in the real layouts, under ``out/saa`` and ``out/cv``, rendered on the
    executor (:mod:`accent.executors`)."""
    from accent.corpora.synthetic import generate_corpus  # lazy: needs espeak-ng/sox, only here

    made = []
    for layout in SYNTHETIC_LAYOUTS:
        target = Path(out) / layout
        generate_corpus(layout, target, seed=seed, speakers_per_accent=speakers_per_accent, workers=workers,
                        executor=executor, scheduler=scheduler)
        print(f"synthetic: {layout} corpus in {target}")
        made.append(target)
    return made


# ------------------------------------------------------------------------------------------------ CLI

def _policy(args: argparse.Namespace) -> RetryPolicy:
    if args.retries < 0 or args.backoff < 0:
        raise AccentError("--retries and --backoff must not be negative")
    return RetryPolicy(retries=args.retries, backoff_s=args.backoff)


def _run_saa(args: argparse.Namespace) -> int:
    if bool(args.archive) == bool(args.speakers_csv):
        raise AccentError("give either --archive (the Kaggle zip, path or URL) or --speakers-csv (to download each "
                          "speaker's recording), not both or neither")
    if args.archive:
        download_saa_archive(args.archive, args.out, sha256=args.sha256, size=args.size,
                             download_dir=args.download_dir, policy=_policy(args), timeout=args.timeout)
        return 0
    counts = download_saa_speakers(args.speakers_csv, args.out, url_template=args.url_template,
                                   limiter=RateLimiter(args.rate), policy=_policy(args), timeout=args.timeout)
    return 1 if counts["failed"] else 0


def _run_commonvoice(args: argparse.Namespace) -> int:
    download_commonvoice(args.archive, args.out, sha256=args.sha256, size=args.size,
                         download_dir=args.download_dir, policy=_policy(args), timeout=args.timeout)
    return 0


def _run_synthetic(args: argparse.Namespace) -> int:
    download_synthetic(args.out, seed=args.seed, speakers_per_accent=args.speakers_per_accent, workers=args.workers,
                       executor=args.executor, scheduler=args.scheduler)
    return 0


def _add_http_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--retries", type=int, default=DEFAULT_RETRIES,
                        help=f"retries per request on connection errors and 5xx (default {DEFAULT_RETRIES})")
    parser.add_argument("--backoff", type=float, default=DEFAULT_BACKOFF_S,
                        help=f"first retry delay in seconds, doubled each retry (default {DEFAULT_BACKOFF_S})")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help=f"socket timeout in seconds (default {TIMEOUT_S:g})")


def _add_archive_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sha256", help="expected sha256 of the archive (refused when it differs)")
    parser.add_argument("--size", type=int, help="expected size of the archive in bytes")
    parser.add_argument("--download-dir", type=Path,
                        help=f"where a URL is downloaded to (default: OUT/../{DOWNLOADS_DIR})")


def add_cli(sub) -> None:
    parser = sub.add_parser("download", help="get a corpus: resumable downloads, checksums, safe extraction",
                            description=__doc__.split("\n\n")[0])
    kinds = parser.add_subparsers(dest="corpus", metavar="CORPUS", required=True,
                                  parser_class=type(parser))

    saa = kinds.add_parser("saa", help="Speech Accent Archive (Kaggle zip, or one request per speaker)")
    saa.add_argument("--out", type=Path, required=True, help="folder to hold speakers_all.csv and recordings/")
    saa.add_argument("--archive", help="the Kaggle zip (path or URL): "
                                       "kaggle datasets download -d rtatman/speech-accent-archive")
    saa.add_argument("--speakers-csv", type=Path, help="speakers_all.csv: download each speaker's recording instead")
    saa.add_argument("--url-template", default=SAA_URL_TEMPLATE, help=f"per-speaker URL (default {SAA_URL_TEMPLATE})")
    saa.add_argument("--rate", type=float, default=DEFAULT_RATE,
                     help=f"at most this many requests per second (default {DEFAULT_RATE:g})")
    _add_archive_options(saa)
    _add_http_options(saa)
    saa.set_defaults(func=_run_saa)

    cv = kinds.add_parser("commonvoice", help="Common Voice tarball (path or signed URL), verified and extracted")
    cv.add_argument("--out", type=Path, required=True, help="folder to extract into (created by one rename)")
    cv.add_argument("--archive", required=True, help="the .tar.gz from commonvoice.mozilla.org/datasets: path or URL")
    _add_archive_options(cv)
    _add_http_options(cv)
    cv.set_defaults(func=_run_commonvoice)

    synth = kinds.add_parser("synthetic", help="both synthetic corpora (OUT/saa and OUT/cv), no network")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--speakers-per-accent", type=int, default=None,
                       help="speakers in every class (default: each layout's imbalanced default table)")
    synth.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    add_executor_options(synth, shards=False)
    synth.set_defaults(func=_run_synthetic)

