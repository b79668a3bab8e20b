"""Duplicate audio: the same real recording found again after resampling, re-encoding and cutting."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from accent import cli
from accent.audio import load_audio
from accent.duplicates import FINGERPRINT_FILE, duplicates_between, store_duplicates
from accent.features import FeatureConfig
from accent.featurize import featurize
from accent.manifest import write_manifest
from accent.store import FeatureStore

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAA = SHARED / "real-samples" / "saa" / "recordings"
SAA_8K = SHARED / "real-dev" / "saa-8k"
KO = SHARED / "real-samples" / "commonvoice-ko-newest" / "clips"
KO_CLIPS = ["common_voice_ko_40612786.mp3", "common_voice_ko_40612792.mp3", "common_voice_ko_41595636.mp3"]


def _manifest(paths: list[Path]) -> pd.DataFrame:
    return pd.DataFrame({"utt_id": [p.stem for p in paths], "path": [str(p) for p in paths],
                         "speaker": [p.stem for p in paths], "label": "x", "split": "train"})


@pytest.mark.skipif(not (SAA.is_dir() and SAA_8K.is_dir()), reason="../shared SAA recordings not available")
def test_the_8khz_redistribution_of_a_real_reading_is_found_in_the_original_store(tmp_path):
    """english123 of real-samples/saa (44.1 kHz) is english_123 of saa-8k: 8 kHz, 32 kbit/s mp3, its
    pauses cut (1.3 s shorter). english81 and english_001 are other readers of the same passage."""
    originals = featurize(_manifest([SAA / "english123.mp3", SAA / "english81.mp3"]), tmp_path / "orig",
                          FeatureConfig(), workers=1, progress=False)
    copies = featurize(_manifest([SAA_8K / "english" / "english_123.mp3", SAA_8K / "english" / "english_001.mp3"]),
                       tmp_path / "8k", FeatureConfig(sample_rate=8000), workers=1, progress=False)
    assert originals.meta["n_utts"] == copies.meta["n_utts"] == 2
    pairs = duplicates_between(FeatureStore.open(tmp_path / "orig"), FeatureStore.open(tmp_path / "8k"))
    assert pairs[["utt_id", "duplicate_of"]].values.tolist() == [["english123", "english_123"]]
    assert (tmp_path / "orig" / FINGERPRINT_FILE).is_file()


@pytest.mark.skipif(not KO.is_dir(), reason="../shared real Common Voice clips not available")
def test_featurize_warns_about_a_clip_stored_twice(tmp_path, capsys):
    """A real clip, and a copy of it resampled to 8 kHz with 0.3 s cut out of its middle, among two
    other clips (one by the same speaker): featurize names that pair, and only that pair."""
    wave = load_audio(KO / KO_CLIPS[0], 8000)
    middle = len(wave) // 2
    sf.write(tmp_path / "copy.wav", np.concatenate([wave[:middle], wave[middle + 2400:]]), 8000)
    paths = [KO / name for name in KO_CLIPS] + [tmp_path / "copy.wav"]
    write_manifest(_manifest(paths), tmp_path / "manifest.csv")
    assert cli.main(["featurize", "--manifest", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "feat"),
                     "--workers", "1", "--quiet"]) == 0
    warning = capsys.readouterr().err
    assert "1 pair(s) of recordings" in warning and f"{Path(KO_CLIPS[0]).stem} = copy" in warning
    assert len(store_duplicates(FeatureStore.open(tmp_path / "feat"))) == 1
