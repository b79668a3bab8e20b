#!/usr/bin/env bash
# Get a corpus: a thin wrapper around `accent download` (details in docs/download.md).
#
#   scripts/download.sh synthetic   [args...]   both synthetic corpora (OUT_DIR/saa, OUT_DIR/cv); no network
#   scripts/download.sh saa         [args...]   Speech Accent Archive: the Kaggle zip, or one request per speaker
#   scripts/download.sh commonvoice [args...]   a Common Voice tarball (local path or signed URL)
#
# Environment (all optional except the archive of the corpus you ask for):
#   OUT_DIR           target folder (default data/corpora/<name>)
#   DOWNLOAD_DIR      where URLs are downloaded, .part files included (default data/downloads)
#   SAA_ARCHIVE       the Kaggle zip, path or URL: kaggle datasets download -d rtatman/speech-accent-archive
#   SAA_SPEAKERS_CSV  speakers_all.csv, to download each speaker's recording instead (when SAA_ARCHIVE is unset)
#   CV_ARCHIVE        the Common Voice .tar.gz: a path, or the signed URL from commonvoice.mozilla.org/datasets
#   CV_SHA256         the archive's sha256 as shown on the site (checked when set)
# Extra args go to `accent download <name>` (e.g. --seed 3, --rate 0.5, --size BYTES, --retries 10).
# Rerunning is safe: finished work is skipped, partial downloads resume, an extracted archive is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/download.sh synthetic|saa|commonvoice [args...] (see the top of this file)"
name="${1:-}"
case "$name" in
  synthetic|saa|commonvoice) shift ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

scripts/setup.sh
out="${OUT_DIR:-data/corpora/$name}"
downloads="${DOWNLOAD_DIR:-data/downloads}"
if [ -x .venv/bin/accent ]; then
  accent=(.venv/bin/accent download "$name")
else
  accent=(.venv/bin/python -m accent download "$name")
fi

args=(--out "$out")
case "$name" in
  saa)
    if [ -n "${SAA_ARCHIVE:-}" ]; then
      args+=(--archive "$SAA_ARCHIVE" --download-dir "$downloads")
    elif [ -n "${SAA_SPEAKERS_CSV:-}" ]; then
      args+=(--speakers-csv "$SAA_SPEAKERS_CSV")
    fi
    ;;
  commonvoice)
    if [ -z "${CV_ARCHIVE:-}" ]; then
      echo "download.sh commonvoice: set CV_ARCHIVE to the .tar.gz path or its signed URL (see docs/download.md)" >&2
      exit 2
    fi
    args+=(--archive "$CV_ARCHIVE" --download-dir "$downloads")
    if [ -n "${CV_SHA256:-}" ]; then
      args+=(--sha256 "$CV_SHA256")
    fi
    ;;
esac

exec "${accent[@]}" "${args[@]}" "$@"
