"""Corpus loaders and `accent manifest`: tiny corpora written in each real layout, plus the real samples."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from accent.cli import main
from accent.corpora import CORPORA, build_manifest
from accent.corpora.commonvoice import load_commonvoice
from accent.corpora.folder import load_folder
from accent.corpora.saa import STELLA_PARAGRAPH, load_saa
from accent.corpora.usermanifest import load_user_manifest
from accent.errors import AccentError
from accent.manifest import COLUMNS, read_manifest, splits_are_speaker_disjoint, summarize

REPO = Path(__file__).resolve().parents[1]
REAL = Path(__file__).resolve().parents[2] / "shared" / "real-samples"
SR = 16000


def write_wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(SR // 10, dtype=np.float32), SR)
    return path


def write_placeholder(path: Path) -> Path:
    """Loaders only check that audio exists (they never decode it), so mp3 names need no real mp3."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not decoded by loaders")
    return path


def write_tsv(path: Path, header: list[str], rows: list[list]) -> Path:
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- Speech Accent Archive

SAA_HEADER = "age,age_onset,birthplace,filename,native_language,sex,speakerid,country,file_missing?,,,"
SAA_LANGUAGES = {"english": "usa", "spanish": "mexico", "mandarin": "china"}
SAA_PER_LANGUAGE = 4


@pytest.fixture
def saa_root(tmp_path):
    """4 speakers per language with audio, plus the real file's troubles: file_missing? TRUE rows
    (with a repeated filename), rows whose mp3 is absent, fractional ages, a misspelt sex."""
    root = tmp_path / "saa"
    lines = [SAA_HEADER]
    speaker = 1
    for lang, country in SAA_LANGUAGES.items():
        for i in range(1, SAA_PER_LANGUAGE + 1):
            write_placeholder(root / "recordings" / f"{lang}{i}.mp3")
            lines.append(f'2{i}.5,5,"town, {country}",{lang}{i},{lang},famale,{speaker},{country},FALSE,,,')
            speaker += 1
    lines.append('30,0,"port-au-prince, haiti",haitian,haitian,male,900,haiti,TRUE,,,')
    lines.append('31,0,"port-au-prince, haiti",haitian,haitian,female,901,haiti,TRUE,,,')
    lines.append('40,0,"london, uk",english99,english,male,902,uk,FALSE,,,')
    lines.append('41,0,"glasgow, uk",english98,english,male,903,uk,FALSE,,,')
    (root / "speakers_all.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_saa_keeps_recordings_and_counts_each_drop_reason(saa_root):
    df, log = load_saa(saa_root)
    n_present = len(SAA_LANGUAGES) * SAA_PER_LANGUAGE
    assert log.rows_read == n_present + 4
    assert log.dropped == {"marked file_missing? TRUE": 2, "audio file missing": 2}
    assert len(df) == n_present
    assert set(df["label"]) == set(SAA_LANGUAGES)
    assert (df["text"] == STELLA_PARAGRAPH).all()
    assert df["speaker"].nunique() == n_present
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in df["path"])
    assert set(df["sex"]) == {"famale"} and df["age"].iloc[0].endswith(".5")


def test_saa_country_column_binned_into_cv_buckets(saa_root):
    df, log = build_manifest("saa", saa_root, label_column="country",
                             label_map="saa_country_to_cv_bucket.csv")
    assert set(df["label"]) == {"us"}  # usa -> us; mexico and china are not English-accent buckets
    assert log.dropped["label not in label map"] == 2 * SAA_PER_LANGUAGE


def test_build_manifest_is_speaker_disjoint_stratified_and_seeded(saa_root):
    df, _ = build_manifest("saa", saa_root, seed=3)
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert splits_are_speaker_disjoint(df)
    for _, group in df.groupby("label"):
        assert set(group["split"]) == {"train", "val", "test"}
    again, _ = build_manifest("saa", saa_root, seed=3)
    assert again["split"].tolist() == df["split"].tolist()
    other_seeds = [build_manifest("saa", saa_root, seed=s)[0]["split"].tolist() for s in range(4, 8)]
    assert any(split != df["split"].tolist() for split in other_seeds)


def test_classes_and_min_speakers_filter(saa_root):
    df, log = build_manifest("saa", saa_root, classes=["english", "spanish"])
    assert set(df["label"]) == {"english", "spanish"}
    assert log.dropped["class not in --classes"] == SAA_PER_LANGUAGE
    with pytest.raises(AccentError, match="min-speakers"):
        build_manifest("saa", saa_root, min_speakers=SAA_PER_LANGUAGE + 1)


# ---------------------------------------------------------------- Common Voice

CV17_HEADER = ["client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
               "age", "gender", "accents", "variant", "locale", "segment"]


def cv17_row(client, clip, accents, variant="", up=2, down=0, sentence="A plain sentence."):
    return [client, clip, "sid", sentence, "", up, down, "twenties", "", accents, variant, "en", ""]


@pytest.fixture
def cv17_root(tmp_path):
    """Newest layout: free-text, multi-valued accents; clips in clips/ and one beside the TSV."""
    root = tmp_path / "cv17"
    rows, expected = [], {}
    accents = {"us": "United States English|Midwestern", "england": "England English",
               "indian": "India and South Asia (India, Pakistan, Sri Lanka)"}
    for bucket, text in accents.items():
        for s in range(3):
            client = f"{bucket}-speaker{s}"
            for k in range(2):
                clip = f"common_voice_en_{bucket}_{s}_{k}.mp3"
                write_placeholder(root / "clips" / clip)
                rows.append(cv17_row(client, clip, text, sentence='He said "yes and left.'))
                expected[clip] = bucket
    write_placeholder(root / "common_voice_en_beside.mp3")  # flattened redistribution
    rows.append(cv17_row("scot", "common_voice_en_beside.mp3", "Scottish English"))
    expected["common_voice_en_beside.mp3"] = "scotland"
    write_placeholder(root / "clips" / "common_voice_en_variant.mp3")
    rows.append(cv17_row("var", "common_voice_en_variant.mp3", "", variant="canada"))
    expected["common_voice_en_variant.mp3"] = "canada"
    drops = {
        "no accent": [cv17_row("x1", "common_voice_en_noaccent.mp3", "")],
        "accent not in the accent table (cv_accent_buckets.csv)":
            [cv17_row("x2", "common_voice_en_unknown.mp3", "slightly slurred")],
        "several accents in different buckets":
            [cv17_row("x3", "common_voice_en_conflict.mp3", "England English,Canadian English")],
        "more down-votes than up-votes": [cv17_row("x4", "common_voice_en_down.mp3", "England English", up=1, down=2)],
        "audio file missing": [cv17_row("x5", "common_voice_en_absent.mp3", "England English")],
    }
    for reason, drop_rows in drops.items():
        for row in drop_rows:
            if reason != "audio file missing":
                write_placeholder(root / "clips" / row[1])
            rows.append(row)
    write_tsv(root / "validated.tsv", CV17_HEADER, rows)
    return root, expected, {reason: len(r) for reason, r in drops.items()}


def test_commonvoice_newest_layout_maps_free_text_accents(cv17_root):
    root, expected, drops = cv17_root
    df, log = load_commonvoice(root)
    assert log.rows_read == len(expected) + sum(drops.values())
    assert dict(log.dropped) == drops
    labels = dict(zip(df["path"].map(lambda p: Path(p).name), df["label"]))
    assert labels == expected
    assert Path(df.loc[df["utt_id"] == "common_voice_en_beside", "path"].iloc[0]).parent == root
    assert (df["text"] == 'He said "yes and left.').sum() == 18  # quoting off: the quote stays in the text
    assert df["speaker"].str.endswith(("speaker0", "speaker1", "speaker2")).sum() == 18


def test_commonvoice_keep_downvoted_and_duration_table(cv17_root):
    root, expected, _ = cv17_root
    write_tsv(root / "clip_durations.tsv", ["clip", "duration[ms]"], [["common_voice_en_beside.mp3", 4200]])
    df, log = load_commonvoice(root, keep_downvoted=True)
    assert "more down-votes than up-votes" not in log.dropped
    assert len(df) == len(expected) + 1
    durations = dict(zip(df["utt_id"], df["duration_s"]))
    assert durations["common_voice_en_beside"] == pytest.approx(4.2)
    assert np.isnan(durations["common_voice_en_us_0_0"])


def test_commonvoice_label_map_overrides_table(cv17_root, tmp_path):
    root, _, _ = cv17_root
    label_map = tmp_path / "map.json"
    label_map.write_text(json.dumps({"England English": "british", "Scottish English": "british",
                                     "Canadian English": "drop"}), encoding="utf-8")
    df, log = load_commonvoice(root, label_map=label_map, allow_empty=True)
    assert set(df["label"]) == {"british"}
    assert log.dropped["label mapped to drop"] == 0  # the canada row's text is 'canada', not mapped
    assert log.dropped[f"accent not in label map {label_map}"] > 0
    assert log.dropped["several accents in different buckets"] == 1  # british vs drop


def test_commonvoice_other_label_column_and_nothing_left(cv17_root):
    root, _, _ = cv17_root
    df, _ = load_commonvoice(root, label_column="age")
    assert set(df["label"]) == {"twenties"}
    empty, log = load_commonvoice(root, label_map={"nowhere": "x", "england english": "drop"}, allow_empty=True)
    # 6 England clips + the absent one (labels are checked before audio) + 'England English,Canadian
    # English', whose only known part now is England
    assert empty.empty and log.dropped["label mapped to drop"] == 8
    with pytest.raises(AccentError, match="no usable recordings"):
        load_commonvoice(root, label_map={"nowhere": "x", "england english": "drop"})


def test_commonvoice_release_tsvs_and_release_splits(tmp_path):
    """Releases up to 16.x: `accent` ids, paths without .mp3, train/dev/test as the only files."""
    root = tmp_path / "cv6"
    header = ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accent"]
    for file_split, accent in (("train", "us"), ("dev", "england"), ("test", "indian")):
        rows = []
        for s in range(2):
            for k in range(2):
                clip = f"{file_split}{s}{k}"
                write_placeholder(root / "clips" / f"{clip}.mp3")
                rows.append([f"{file_split}-spk{s}", clip, "text", 2, 0, "", "", accent])
        write_tsv(root / f"{file_split}.tsv", header, rows)
    df, log = build_manifest("commonvoice", root, release_splits=True)
    assert df.groupby("split")["label"].first().to_dict() == {"train": "us", "val": "england", "test": "indian"}
    assert any("release's own" in note for note in log.notes)
    ours, _ = build_manifest("commonvoice", root)  # no validated.tsv: train+dev+test, split by us
    assert len(ours) == 12 and splits_are_speaker_disjoint(ours)
    assert all(p.endswith(".mp3") for p in ours["path"])


def test_commonvoice_v1_kaggle_has_no_speakers_and_says_so(tmp_path):
    root = tmp_path / "cv1"
    for file_split in ("train", "dev", "test"):
        lines = ["filename,text,up_votes,down_votes,age,gender,accent,duration"]
        for i, accent in enumerate(["us", "england", "australia", "", "other"]):
            rel = f"cv-valid-{file_split}/sample-{i:06d}.mp3"
            write_placeholder(root / rel)
            lines.append(f'{rel},"hello, world",1,0,twenties,male,{accent},')
        (root / f"cv-valid-{file_split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    df, log = load_commonvoice(root, release_splits=True)
    assert log.rows_read == 15 and len(df) == 9
    assert log.dropped == {"no accent": 3, "accent not in the accent table (cv_accent_buckets.csv)": 3}
    assert df["speaker"].nunique() == len(df) and df["utt_id"].is_unique
    assert any("no speaker ids" in note for note in log.notes)
    assert set(df["split"]) == {"train", "val", "test"} and (df["text"] == "hello, world").all()
    assert "speaker-disjoint splits: cannot be guaranteed (9 of 9 recordings have no speaker id)" in summarize(df, log)


# ---------------------------------------------------------------- folder and user manifest

@pytest.fixture
def folder_root(tmp_path):
    root = tmp_path / "folder"
    for label in ("north", "south"):
        for spk in range(3):
            for k in range(2):
                write_wav(root / label / f"spk{spk}" / f"take{k}.wav")
    write_wav(root / "north" / "loose.WAV")
    write_wav(root / "stray.wav")
    (root / "north" / "notes.txt").write_text("not audio")
    return root


def test_folder_speakers_from_subfolders_and_loose_files_noted(folder_root):
    df, log = load_folder(folder_root)
    assert log.rows_read == 14 and len(df) == 13
    assert log.dropped == {"audio file not inside a label folder": 1}
    assert df.groupby("label")["speaker"].nunique().to_dict() == {"north": 4, "south": 3}
    assert any("own speaker" in note for note in log.notes)
    manifest, _ = build_manifest("folder", folder_root)
    assert splits_are_speaker_disjoint(manifest)


def test_folder_follows_linked_label_folders_without_looping(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    for spk in ("ana", "ben"):
        for k in range(2):
            write_wav(elsewhere / "east-speakers" / spk / f"take{k}.wav")
    write_wav(tmp_path / "west-speakers" / "cyd" / "take0.wav")
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "east").symlink_to(elsewhere / "east-speakers", target_is_directory=True)
    (root / "west").symlink_to(tmp_path / "west-speakers", target_is_directory=True)
    (root / "east" / "ana" / "loop").symlink_to(root, target_is_directory=True)  # back up to the root
    (root / "west" / "cyd" / "self").symlink_to(tmp_path / "west-speakers" / "cyd", target_is_directory=True)
    (root / "west" / "gone").symlink_to(tmp_path / "nowhere", target_is_directory=True)  # dangling
    df, log = load_folder(root)
    assert sorted(df["label"]) == ["east"] * 4 + ["west"]
    assert df.groupby("label")["speaker"].nunique().to_dict() == {"east": 2, "west": 1}
    assert all(p.startswith(str(root)) for p in df["path"]) and df["utt_id"].is_unique


def test_folder_speaker_regex(folder_root):
    df, log = load_folder(folder_root, speaker_regex=r"^spk(\d)/")
    assert set(df["speaker"]) == {"0", "1", "2"}
    assert log.dropped["speaker regex did not match"] == 1
    with pytest.raises(AccentError, match="speaker-regex"):
        load_folder(folder_root, speaker_regex="(")


def test_user_manifest_resolves_paths_and_uses_own_splits(tmp_path):
    audio = tmp_path / "audio"
    rows = []
    for i in range(6):
        write_wav(audio / f"clip{i}.wav")
        rows.append({"path": f"audio/clip{i}.wav", "label": "ab"[i % 2], "split": ["train", "dev", "test"][i % 3],
                     "gender": "f"})
    rows.append({"path": "audio/absent.wav", "label": "a", "split": "train", "gender": "m"})
    table = tmp_path / "mine.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    df, log = load_user_manifest(table, release_splits=True)
    assert len(df) == 6 and log.dropped == {"audio file missing": 1}
    assert set(df["split"]) == {"train", "val", "test"}
    assert all(Path(p).is_absolute() for p in df["path"]) and "gender" in df
    assert any("own speaker" in note for note in log.notes)
    manifest, _ = build_manifest("manifest", table)
    assert set(manifest["utt_id"]) == {f"audio-clip{i}" for i in range(6)}


def test_user_manifest_bad_split_value_and_speaker_column(tmp_path):
    for i in range(3):
        write_wav(tmp_path / f"c{i}.wav")
    table = tmp_path / "mine.tsv"
    write_tsv(table, ["path", "accent", "speaker", "split"],
              [[f"c{i}.wav", "x", "alice" if i < 2 else "bob", "holdout" if i == 2 else "train"] for i in range(3)])
    df, log = load_user_manifest(table, label_column="accent")
    assert df.groupby("speaker").size().to_dict() == {"alice": 2, "bob": 1} and not log.notes
    with pytest.raises(AccentError, match="holdout"):
        load_user_manifest(table, label_column="accent", release_splits=True)


def test_manifest_cli_writes_readable_manifest_and_prints_summary(saa_root, tmp_path, capsys):
    out = tmp_path / "out" / "saa.csv"
    assert main(["manifest", "--corpus", "saa", "--root", str(saa_root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rows read: 16" in printed and "marked file_missing? TRUE" in printed
    assert "speaker-disjoint splits: yes" in printed
    written = read_manifest(out)
    assert len(written) == 12 and set(written["split"]) == {"train", "val", "test"}


# ---------------------------------------------------------------- bad input: one line, exit status 2

def _bad_inputs(tmp_path, saa_root, cv17_root):
    root, _, _ = cv17_root
    no_label = tmp_path / "nolabel"
    no_label.mkdir()
    (no_label / "speakers_all.csv").write_text("filename,speakerid,native_language\na1,1,\na2,2,\n")
    latin1 = tmp_path / "latin1"
    latin1.mkdir()
    (latin1 / "validated.tsv").write_bytes("client_id\tpath\taccent\nc\tp\tcaf\xe9\n".encode("latin-1"))
    nothing = tmp_path / "nothing.csv"
    nothing.write_text("from,to\nklingon,kl\n")
    no_columns = tmp_path / "nocols"
    no_columns.mkdir()
    write_tsv(no_columns / "validated.tsv", ["path", "sentence"], [["a.mp3", "x"]])
    base = ["manifest", "--out", str(tmp_path / "m.csv")]
    return {
        "missing root": (base + ["--corpus", "saa", "--root", str(tmp_path / "absent")], "not a folder"),
        "missing metadata": (base + ["--corpus", "saa", "--root", str(tmp_path)], "speakers_all.csv"),
        "no cv metadata": (base + ["--corpus", "commonvoice", "--root", str(tmp_path)], "validated.tsv"),
        "unknown corpus": (base + ["--corpus", "librispeech", "--root", str(tmp_path)], "unknown corpus"),
        "missing column": (base + ["--corpus", "commonvoice", "--root", str(no_columns)], "client_id"),
        "bad label column": (base + ["--corpus", "saa", "--root", str(saa_root), "--label-column", "shoe"], "shoe"),
        "empty label column": (base + ["--corpus", "saa", "--root", str(no_label)], "native_language"),
        "not utf-8": (base + ["--corpus", "commonvoice", "--root", str(latin1)], "UTF-8"),
        "map maps nothing (saa)": (base + ["--corpus", "saa", "--root", str(saa_root), "--label-map", str(nothing)],
                                   "maps none"),
        "map maps nothing (cv)": (base + ["--corpus", "commonvoice", "--root", str(root), "--label-map", str(nothing)],
                                  "maps none"),
        "option for another corpus": (base + ["--corpus", "saa", "--root", str(saa_root), "--keep-downvoted"],
                                      "--keep-downvoted"),
    }


@pytest.mark.parametrize("case", ["missing root", "missing metadata", "no cv metadata", "unknown corpus",
                                  "missing column", "bad label column", "empty label column", "not utf-8",
                                  "map maps nothing (saa)", "map maps nothing (cv)", "option for another corpus"])
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, saa_root, cv17_root, capsys):
    argv, expected = _bad_inputs(tmp_path, saa_root, cv17_root)[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert expected in err
    assert not (tmp_path / "m.csv").exists()


def test_every_corpus_is_registered():
    assert set(CORPORA) == {"saa", "commonvoice", "folder", "manifest"}


# ---------------------------------------------------------------- real samples (skipped when absent)

def real(name: str) -> Path:
    path = REAL / name
    if not path.is_dir():
        pytest.skip(f"real samples not present at {path}")
    return path


def tsv_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_real_saa():
    root = real("saa")
    df, log = load_saa(root)
    n_files = len(list((root / "recordings").glob("*.mp3")))
    assert log.rows_read == 2172  # README: the unedited speakers_all.csv
    assert log.dropped["marked file_missing? TRUE"] == 34
    assert len(df) == n_files and log.dropped["audio file missing"] == 2172 - 34 - n_files
    assert df["label"].nunique() == 7 and df["speaker"].is_unique


def test_real_commonvoice_v1_kaggle():
    root = real("commonvoice-v1-kaggle")
    with open(root / "cv-valid-test.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    voted_up = [r for r in rows if int(r["down_votes"]) <= int(r["up_votes"])]
    labelled = [r for r in voted_up if r["accent"] != ""]
    df, log = load_commonvoice(root)
    assert log.rows_read == len(rows) == 1542
    assert log.dropped["more down-votes than up-votes"] == len(rows) - len(voted_up)
    assert log.dropped["no accent"] == len(voted_up) - len(labelled)
    assert len(df) == sum((root / r["filename"]).is_file() for r in labelled) > 0
    assert log.dropped["audio file missing"] == len(labelled) - len(df)
    assert df["duration_s"].isna().all()  # the published duration column is empty
    assert any("no speaker ids" in note for note in log.notes)


def test_real_commonvoice_tr_release1_without_audio():
    root = real("commonvoice-1-tr")
    rows = tsv_rows(root / "validated.tsv")
    df, log = load_commonvoice(root, allow_empty=True)
    assert df.empty and log.rows_read == len(rows)
    assert log.dropped["no accent"] == sum(r["accent"] == "" for r in rows)
    assert log.dropped["accent not in the accent table (cv_accent_buckets.csv)"] == \
        sum(r["accent"] == "other" for r in rows)
    by_gender, log = load_commonvoice(root, label_column="gender", allow_empty=True)
    assert by_gender.empty  # no audio in this sample: every labelled clip is counted missing
    assert log.dropped["audio file missing"] == sum(r["gender"] != "" for r in rows)
    with pytest.raises(AccentError, match="0 of the"):
        load_commonvoice(root)


def test_real_commonvoice_6_1_release_splits():
    root = real("commonvoice-6.1-en")
    n_rows = sum(len(tsv_rows(root / f"{s}.tsv")) for s in ("train", "dev", "test"))
    df, log = load_commonvoice(root, release_splits=True, label_column="locale", allow_empty=True)
    assert log.rows_read == n_rows and df.empty
    assert log.dropped["audio file missing"] + log.dropped["more down-votes than up-votes"] == n_rows


def test_real_commonvoice_ko_newest():
    root = real("commonvoice-ko-newest")
    rows = tsv_rows(root / "validated.tsv")
    df, log = load_commonvoice(root, allow_empty=True)
    assert df.empty and log.rows_read == len(rows) == 1739  # Korean free text: no English bucket
    assert log.dropped["no accent"] == sum(r["accents"] == "" and r["variant"] == "" for r in rows)
    assert sum(log.dropped.values()) == len(rows)
    present = {p.name for p in (root / "clips").iterdir()}
    mapping = {"ukrainian": "foreign", "일반적인 성인 남성": "native", "서울": "native"}
    df, log = load_commonvoice(root, label_map=mapping)
    labelled = [r for r in rows if any(part.strip().lower() in mapping for part in re.split("[|,]", r["accents"]))]
    assert len(df) == sum(r["path"] in present for r in labelled) > 0
    assert log.dropped["audio file missing"] == len(labelled) - len(df)
    assert set(df["label"]) == {"foreign", "native"} and all(Path(p).is_file() for p in df["path"])


def test_folder_corpus_takes_every_format_predict_accepts(tmp_path):
    """One list of audio extensions (accent.layout): a folder corpus no longer skips .opus/.m4a files."""
    from accent.corpora.folder import load_folder
    from accent.layout import AUDIO_EXTENSIONS

    for k, ext in enumerate(AUDIO_EXTENSIONS):
        (tmp_path / "en" / f"spk{k}").mkdir(parents=True)
        (tmp_path / "en" / f"spk{k}" / f"clip{ext.upper() if k % 2 else ext}").write_bytes(b"")
    (tmp_path / "en" / "notes.txt").write_text("not audio")
    df, _ = load_folder(tmp_path)
    assert sorted(Path(p).suffix.lower() for p in df["path"]) == sorted(AUDIO_EXTENSIONS)
