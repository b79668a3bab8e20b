"""Decoding damaged audio: a clear AudioError or the decodable part, and no decoder chatter."""
import numpy as np
import pytest
import soundfile as sf

from accent.audio import load_audio
from accent.errors import AudioError


@pytest.fixture
def damaged_mp3(tmp_path):
    t = np.arange(16000 * 3) / 16000
    path = tmp_path / "tone.mp3"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000, format="MP3")
    data = bytearray(path.read_bytes())
    data[len(data) // 3: len(data) // 3 + 400] = bytes(400)   # a hole in the middle of the stream
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data[: len(data) * 2 // 3]))     # and cut off early
    return damaged


def test_damaged_mp3_decodes_quietly(damaged_mp3, capfd):
    try:
        wave = load_audio(damaged_mp3, 16000)
        assert 0 < len(wave) < 16000 * 3 and np.isfinite(wave).all()
    except AudioError as exc:
        assert str(damaged_mp3) in str(exc)
    assert capfd.readouterr().err == ""


def test_random_bytes_are_an_audio_error_naming_the_file(tmp_path, capfd):
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match="noise.mp3: cannot decode audio"):
        load_audio(path)
    assert capfd.readouterr().err == ""
