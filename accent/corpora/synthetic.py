"""A synthetic accented-speech corpus written in the real on-disk layouts, so the whole pipeline runs
offline on a fresh machine.

Accents are proxies built from espeak-ng: its regional English voices (en-us, en-gb, en-gb-scotland,
en-029...), foreign voices reading the English text with their own spelling-to-sound rules (French,
Spanish...), and, for languages whose voices switch to English on Latin script (Hindi, Russian,
Arabic), English phonemes rewritten by a small table of typical first-language substitutions and
spoken by that language's voice. The Common Voice-like classes share voices with Speech Accent
Archive-like classes (en-us, en-gb, Scottish, Hindi), so the source corpus is informative for the target.

Every speaker gets a voice variant, pitch and speed drawn from one distribution for all accents, then
sox colouring (pitch shift, equaliser, band limit, reverberation, gain) and background noise at a
random signal-to-noise ratio, so neither the voice nor the channel reveals the accent. Splits are
speaker-disjoint downstream, so a classifier cannot score by recognising voices.

Layouts:
  ``saa``  ``speakers_all.csv`` + ``recordings/<language><n>.mp3`` (one Stella passage per speaker)
  ``cv``   ``validated.tsv`` + ``clips/common_voice_en_<n>.mp3`` (3-6 short sentences per speaker)

Output is deterministic for a seed (metadata byte-identical, decoded audio identical) and resumable:
each clip is written atomically and skipped when present; ``synth.json`` records the parameters.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import scipy.fft
from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal

from accent.corpora.saa import STELLA_PARAGRAPH as STELLA_PASSAGE
from accent import sysdeps
from accent.errors import AccentError
from accent.executors import add_executor_options, map_ordered, open_executor
from accent.fileio import write_text_atomic
from accent.resources import resource_path
from accent.layout import CV_CLIPS, CV_VALIDATED, SAA_AUDIO_SUFFIX, SAA_METADATA, SAA_RECORDINGS

GENERATOR_VERSION = 1
PARAMS_FILE = "synth.json"
SENTENCES_FILE = "sentences.txt"  # packaged: accent/resources/
SAA_HEADER = ["age", "age_onset", "birthplace", "filename", "native_language", "sex", "speakerid",
              "country", "file_missing?", "", "", ""]
CV_HEADER = ["client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
             "age", "gender", "accents", "variant", "locale", "segment"]
ESPEAK_RATE = 22050           # espeak-ng's native output rate
VOICE_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4"]
SPEED_WPM = (125, 185)        # espeak-ng -s
PITCH = (20, 80)              # espeak-ng -p
VOCAL_TRACT_SPEED = (0.88, 1.12)  # sox speed: resampling shifts formants and pitch together
SNR_DB = (8.0, 35.0)          # per speaker; each clip jitters it by up to CLIP_SNR_JITTER_DB
CLIP_SNR_JITTER_DB = 3.0
LOWPASS_HZ = (3400, 7600)     # band limit: telephone-like to wide band
HIGHPASS_HZ = (60, 300)
REVERB_PROB = 0.6
SILENCE_S = (0.1, 0.8)        # leading and trailing silence per clip
GAIN_DB = (-14.0, -1.0)       # peak level of the finished clip
CV_CLIPS_PER_SPEAKER = (3, 6)
SOX_HEADROOM_DB = -8  # before the effects, so sox never clips; the level is set afterwards
MP3_KBPS = {16000: 32, 22050: 40, 44100: 64}


@dataclass(frozen=True)
class Accent:
    """One label: the espeak-ng voices that speak it (with draw weights) and how text reaches them."""

    voices: tuple[tuple[str, float], ...]
    phoneme_map: str | None = None  # name in L1_SUBSTITUTIONS: speak rewritten English phonemes
    cities: tuple[str, ...] = ()    # SAA birthplaces ("city, country") for non-English voices
    cv_accent: str = ""             # Common Voice 17+ free-text accent (cv layout)


# English phonemes (espeak-ng mnemonics, en-us) -> first-language substitutes, spoken by that
# language's voice. Each table lists the classic L1 transfer patterns and covers every English
# phoneme the target voice lacks (espeak-ng silently drops unknown phonemes).
L1_SUBSTITUTIONS: dict[str, dict[str, str]] = {
    "hindi": {"t": "t.", "d": "d.", "t2": "t.", "T": "t#", "D": "d#", "w": "v", "r": "*",
              "3:": "@ *", "3": "@ *", "0": "O:", "A:": "a:", "a": "E", "eI": "e:", "oU": "o:",
              "I2": "I", "a#": "a", "aa": "a:", "i@3": "i@"},
    "russian": {"T": "s", "D": "z", "w": "v", "h": "x", "N": "n g", "I": "i", "I2": "i", "i:": "i",
                "0": "o", "O:": "o", "O@": "o r", "3:": "E r", "3": "@ r", "U": "u", "U@": "u r",
                "u:": "u", "V": "A", "a": "E", "aa": "A", "A:": "A", "aI": "A j", "aU": "A u",
                "eI": "e j", "oU": "o", "OI": "o j", "@2": "@", "a#": "A", "i@3": "i r", "t2": "t"},
    "arabic": {"p": "b", "v": "f", "tS": "S", "N": "n g", "r": "R", "E": "e", "I": "i", "I2": "i",
               "0": "o", "O:": "o", "O@": "o R", "OI": "o j", "U": "u", "U@": "u R", "V": "a",
               "3:": "e R", "3": "e R", "a": "a", "aa": "a:", "A:": "a:", "aI": "a j", "aU": "a w",
               "eI": "e", "oU": "o", "@2": "@", "a#": "a", "i@3": "i R", "t2": "t"},
}

ENGLISH_VOICES = (("en-us", 0.55), ("en-us-nyc", 0.1), ("en-gb", 0.15), ("en-gb-x-rp", 0.15),
                  ("en-gb-scotland", 0.05))
SAA_ACCENTS: dict[str, Accent] = {
    "english": Accent(ENGLISH_VOICES),  # birthplace follows the voice: see _saa_origin
    "spanish": Accent((("es", 0.5), ("es-419", 0.5)),
                      cities=("madrid, spain", "mexico city, mexico", "bogota, colombia")),
    "arabic": Accent((("ar", 1.0),), "arabic", cities=("cairo, egypt", "amman, jordan", "riyadh, saudi arabia")),
    "mandarin": Accent((("cmn", 1.0),), cities=("beijing, china", "shanghai, china", "taipei, taiwan")),
    "french": Accent((("fr-fr", 1.0),), cities=("paris, france", "lyon, france", "marseille, france")),
    "portuguese": Accent((("pt-br", 0.7), ("pt", 0.3)),
                         cities=("sao paulo, brazil", "lisbon, portugal", "recife, brazil")),
    "russian": Accent((("ru", 1.0),), "russian", cities=("moscow, russia", "novosibirsk, russia", "kazan, russia")),
    "dutch": Accent((("nl", 1.0),), cities=("amsterdam, netherlands", "utrecht, netherlands")),
    "turkish": Accent((("tr", 1.0),), cities=("istanbul, turkey", "ankara, turkey", "izmir, turkey")),
    "german": Accent((("de", 1.0),), cities=("berlin, germany", "munich, germany", "hamburg, germany")),
    "polish": Accent((("pl", 1.0),), cities=("warsaw, poland", "krakow, poland", "gdansk, poland")),
    "hindi": Accent((("hi", 1.0),), "hindi", cities=("delhi, india", "lucknow, india", "jaipur, india")),
}
# Real SAA is imbalanced (English ~28 %): keep a mild version of that.
SAA_SPEAKERS = {name: 20 for name in SAA_ACCENTS} | {"english": 28}

CV_ACCENTS: dict[str, Accent] = {
    "us": Accent((("en-us", 0.85), ("en-us-nyc", 0.15)), cv_accent="United States English"),
    "england": Accent((("en-gb", 0.4), ("en-gb-x-rp", 0.3), ("en-gb-x-gbclan", 0.15), ("en-gb-x-gbcwmd", 0.15)),
                      cv_accent="England English"),
    "indian": Accent((("hi", 1.0),), "hindi",
                     cv_accent="India and South Asia (India, Pakistan, Sri Lanka)"),
    "scotland": Accent((("en-gb-scotland", 1.0),), cv_accent="Scottish English"),
    "westindies": Accent((("en-029", 1.0),),
                         cv_accent="West Indies and Bermuda (Bahamas, Bermuda, Jamaica, Trinidad)"),
}
# Imbalanced as in Common Voice English: US largest, a small class with few speakers.
CV_SPEAKERS = {"us": 70, "england": 45, "indian": 35, "scotland": 20, "westindies": 16}
CV_AGES = ["teens", "twenties", "thirties", "fourties", "fifties", "sixties"]
LAYOUTS = {"saa": (SAA_ACCENTS, SAA_SPEAKERS), "cv": (CV_ACCENTS, CV_SPEAKERS)}


@dataclass(frozen=True)
class Voice:
    """Everything that makes one synthetic speaker sound like themself."""

    espeak_voice: str
    variant: str
    speed: int
    pitch: int
    tract: float         # sox speed factor (vocal-tract length and pitch)
    eq_hz: int
    eq_gain_db: float
    lowpass_hz: int
    highpass_hz: int
    reverb: int          # 0 = dry room
    snr_db: float
    noise_colour: float  # spectral slope exponent: 0 white, 1 pink, 2 brown
    gain_db: float
    sample_rate: int

    @property
    def female(self) -> bool:
        return self.variant.startswith("f")


@dataclass(frozen=True)
class Clip:
    """One file to write: who says what, where, and the seed for its per-clip randomness."""

    path: str
    text: str
    voice: Voice
    phoneme_map: str | None
    seed: tuple[int, ...]


# ----------------------------------------------------------------------------- speakers and plans

def draw_voice(rng: np.random.Generator, accent: Accent, sample_rates: tuple[int, ...]) -> Voice:
    """A speaker's voice: every parameter except the espeak-ng voice comes from one distribution
    shared by all accents, so the voice does not give the accent away."""
    names = [v for v, _ in accent.voices]
    weights = np.array([w for _, w in accent.voices], dtype=float)
    return Voice(
        espeak_voice=str(rng.choice(names, p=weights / weights.sum())),
        variant=str(rng.choice(VOICE_VARIANTS)),
        speed=int(rng.integers(*SPEED_WPM)),
        pitch=int(rng.integers(*PITCH)),
        tract=round(float(rng.uniform(*VOCAL_TRACT_SPEED)), 3),
        eq_hz=int(np.exp(rng.uniform(np.log(200), np.log(4000)))),
        eq_gain_db=round(float(rng.uniform(-8, 8)), 1),
        lowpass_hz=int(rng.integers(*LOWPASS_HZ)),
        highpass_hz=int(rng.integers(*HIGHPASS_HZ)),
        reverb=int(rng.integers(10, 70)) if rng.random() < REVERB_PROB else 0,
        snr_db=round(float(rng.uniform(*SNR_DB)), 1),
        noise_colour=round(float(rng.uniform(0, 2)), 2),
        gain_db=round(float(rng.uniform(*GAIN_DB)), 1),
        sample_rate=int(rng.choice(sample_rates)),
    )


def speaker_counts(layout: str, speakers_per_accent: int | None, accents: list[str] | None) -> dict[str, int]:
    """Speakers per label: the layout's default (imbalanced) table, or ``speakers_per_accent`` each."""
    table, default = LAYOUTS[layout]
    names = list(table) if not accents else accents
    unknown = [a for a in names if a not in table]
    if unknown:
        raise AccentError(f"unknown {layout} accent(s) {', '.join(unknown)}: choose from {', '.join(table)}")
    if speakers_per_accent is not None and speakers_per_accent < 1:
        raise AccentError(f"--speakers-per-accent must be at least 1 (got {speakers_per_accent})")
    return {a: speakers_per_accent or default[a] for a in names}


def read_sentences(path: Path | None = None) -> list[str]:
    """The sentence list (default: the packaged one); blank lines and ``#`` comments skipped."""
    path = resource_path(SENTENCES_FILE) if path is None else Path(path)
    if not path.is_file():
        raise AccentError(f"sentence list {path} not found")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _seed_ints(seed: int, *parts: str | int) -> tuple[int, ...]:
    """Stable integers for a SeedSequence (Python's hash() of a str changes between runs)."""
    key = "/".join(str(p) for p in parts)
    return (int(seed), int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))


def plan_saa(out: Path, counts: dict[str, int], seed: int) -> tuple[list[Clip], list[list[str]]]:
    clips, rows = [], []
    speaker_id = 0
    for accent_name, n in counts.items():
        accent = SAA_ACCENTS[accent_name]
        for i in range(1, n + 1):
            rng = np.random.default_rng(_seed_ints(seed, "saa", accent_name, i))
            voice = draw_voice(rng, accent, (16000, 22050, 44100))
            speaker_id += 1
            filename = f"{accent_name}{i}"
            english = accent_name == "english"
            country, city = _saa_origin(rng, accent, voice)
            age = int(rng.integers(18, 70))
            onset = 0 if english else int(rng.integers(3, min(age, 30)))
            rows.append([f"{age}.0", f"{onset}.0", city, filename, accent_name,
                         "female" if voice.female else "male", str(speaker_id), country, "FALSE", "", "", ""])
            clips.append(Clip(str(out / SAA_RECORDINGS / f"{filename}{SAA_AUDIO_SUFFIX}"), STELLA_PASSAGE, voice,
                              accent.phoneme_map, _seed_ints(seed, "saa-clip", filename)))
    return clips, rows


def _saa_origin(rng: np.random.Generator, accent: Accent, voice: Voice) -> tuple[str, str]:
    """Birth country and place consistent with the voice (an en-gb speaker was born in the uk)."""
    if voice.espeak_voice.startswith("en-gb"):
        if "scotland" in voice.espeak_voice:
            return "uk", "edinburgh, uk"
        return "uk", str(rng.choice(["london, uk", "manchester, uk", "leeds, uk"]))
    if voice.espeak_voice.startswith("en-us"):
        return "usa", str(rng.choice(["chicago, illinois, usa", "boston, massachusetts, usa",
                                      "new york, new york, usa", "seattle, washington, usa"]))
    city = str(rng.choice(accent.cities))
    return city.rsplit(", ", 1)[-1], city


def plan_cv(out: Path, counts: dict[str, int], seed: int) -> tuple[list[Clip], list[list[str]]]:
    sentences = read_sentences()
    clips, rows = [], []
    rng_ids = np.random.default_rng(_seed_ints(seed, "cv-ids"))
    n_max = sum(counts.values()) * CV_CLIPS_PER_SPEAKER[1]
    clip_numbers = iter(sorted(rng_ids.choice(np.arange(17_000_000, 40_000_000), size=n_max, replace=False)))
    for accent_name, n in counts.items():
        accent = CV_ACCENTS[accent_name]
        for i in range(n):
            rng = np.random.default_rng(_seed_ints(seed, "cv", accent_name, i))
            voice = draw_voice(rng, accent, (16000, 22050))
            client_id = hashlib.sha512(f"{seed}/{accent_name}/{i}".encode()).hexdigest()
            age = str(rng.choice(CV_AGES))
            gender = "female_feminine" if voice.female else "male_masculine"
            n_clips = int(rng.integers(CV_CLIPS_PER_SPEAKER[0], CV_CLIPS_PER_SPEAKER[1] + 1))
            for k in rng.choice(len(sentences), size=n_clips, replace=False):
                sentence = sentences[int(k)]
                name = f"common_voice_en_{next(clip_numbers)}.mp3"
                up = int(rng.integers(2, 6))
                rows.append([client_id, name, hashlib.sha256(sentence.encode()).hexdigest(), sentence, "",
                             str(up), str(int(rng.integers(0, 2))), age, gender, accent.cv_accent, "", "en", ""])
                clips.append(Clip(str(out / CV_CLIPS / name), sentence, voice, accent.phoneme_map,
                                  _seed_ints(seed, "cv-clip", name)))
    return clips, rows


# ----------------------------------------------------------------------------- audio synthesis

def required_voices() -> set[str]:
    """Every espeak-ng voice and variant the generator speaks with."""
    voices = {v for table in (SAA_ACCENTS, CV_ACCENTS) for accent in table.values() for v, _ in accent.voices}
    return voices | set(VOICE_VARIANTS)


def check_tools() -> str:
    """Fail before generating anything when a tool or voice is missing; return the mp3 encoder to use
    (sox when it has its mp3 plugin, else libsndfile)."""
    for check in sysdeps.check_espeak(required_voices()) + sysdeps.check_sox()[:1]:
        if not check.ok:
            raise AccentError(f"{check.name}: {check.detail}: install with `{check.fix}` or run scripts/setup.sh")
    return sysdeps.mp3_encoder()


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()[:200]}")
    return proc.stdout


@lru_cache(maxsize=4096)
def english_phonemes(text: str) -> tuple[str, ...]:
    """en-us phonemes of each clause, as lists of space-separated espeak-ng mnemonics per word."""
    out = _run(["espeak-ng", "-q", "-x", "--sep= ", "-v", "en-us", text]).decode()
    return tuple(line.strip() for line in out.splitlines() if line.strip())


def substitute_phonemes(clause: str, table: dict[str, str]) -> str:
    """Rewrite one clause of en-us phonemes ("p l 'i: z  k 'O: l") with an L1 table, keeping stress
    marks and word boundaries; the result is espeak-ng phoneme input for the L1 voice."""
    words = []
    for word in re.split(r"\s{2,}", clause.strip()):
        out = []
        for token in word.split():
            stress = re.match(r"^[',]*", token).group(0)
            core = token[len(stress):]
            out.append(stress + table.get(core, core).replace(" ", ""))
        words.append("".join(out))
    return " ".join(words)


def espeak_input(text: str, phoneme_map: str | None) -> str:
    if phoneme_map is None:
        return text
    table = L1_SUBSTITUTIONS[phoneme_map]
    return " ".join(f"[[{substitute_phonemes(c, table)}]]," for c in english_phonemes(text))


def synthesize(clip: Clip) -> tuple[np.ndarray, int]:
    """espeak-ng -> sox (voice colouring and room) -> numpy (noise, silence, level), float32 mono."""
    v = clip.voice
    wav = _run(["espeak-ng", "--stdout", "-v", f"{v.espeak_voice}+{v.variant}", "-s", str(v.speed),
                "-p", str(v.pitch), espeak_input(clip.text, clip.phoneme_map)])
    effects = ["gain", str(SOX_HEADROOM_DB), "speed", str(v.tract),
               "equalizer", str(v.eq_hz), "1.0q", str(v.eq_gain_db),
               "highpass", str(v.highpass_hz), "lowpass", str(min(v.lowpass_hz, v.sample_rate // 2 - 200))]
    if v.reverb:
        effects += ["reverb", str(v.reverb), "50", "60"]
    effects += ["rate", str(v.sample_rate)]
    raw = _run(["sox", "-R", "-D", "-V1", "-t", "wav", "-", "-t", "f32", "-c", "1", "-", *effects], stdin=wav)
    speech = np.frombuffer(raw, dtype=np.float32).copy()
    if speech.size == 0:
        raise RuntimeError("espeak-ng produced no audio")
    return add_channel(speech, v, np.random.default_rng(clip.seed)), v.sample_rate


def coloured_noise(n: int, colour: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**colour (0 white, 1 pink, 2 brown), unit RMS."""
    n_fft = scipy.fft.next_fast_len(max(n, 2), real=True)  # 2-3-5-smooth: a prime length is very slow
    spectrum = scipy.fft.rfft(rng.standard_normal(n_fft))
    freqs = np.arange(len(spectrum), dtype=float)
    freqs[0] = 1.0
    noise = scipy.fft.irfft(spectrum / freqs ** (colour / 2), n_fft)[:n]
    return noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)


def add_channel(speech: np.ndarray, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """Pad with random silence, add background noise at the speaker's SNR (jittered per clip), set level."""
    sr = voice.sample_rate
    lead, trail = (int(rng.uniform(*SILENCE_S) * sr) for _ in range(2))
    signal = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(trail, np.float32)])
    speech_rms = np.sqrt(np.mean(speech ** 2)) + 1e-9
    snr = voice.snr_db + rng.uniform(-CLIP_SNR_JITTER_DB, CLIP_SNR_JITTER_DB)
    signal = signal + coloured_noise(len(signal), voice.noise_colour, rng) * speech_rms / 10 ** (snr / 20)
    peak = np.max(np.abs(signal)) + 1e-9
    return (signal * (10 ** (voice.gain_db / 20) / peak)).astype(np.float32)


def write_mp3_atomic(path: Path, audio: np.ndarray, sample_rate: int, encoder: str = "sox") -> None:
    """Encode mp3 at a bitrate fit for speech; tmp file + rename so a killed run leaves no half clip.

    ``sox``: LAME at its fastest quality setting, about 2.6x faster than libsndfile's writer at the
    same bitrate (docs/benchmarks.md). ``soundfile``: libsndfile, for a sox without its mp3 plugin.
    """
    tmp = path.with_name(path.name + ".tmp")
    bitrate = MP3_KBPS[sample_rate]
    if encoder == "sox":
        _run(["sox", "-R", "-V1", "-t", "f32", "-r", str(sample_rate), "-c", "1", "-", "-t", "mp3",
              "-C", f"{bitrate}.9", str(tmp)], stdin=np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    else:
        write_mp3_soundfile(tmp, audio, sample_rate, bitrate)
    tmp.replace(path)


def write_mp3_soundfile(path: Path, audio: np.ndarray, sample_rate: int, kbps: int) -> None:
    """Constant-bitrate mp3 through libsndfile. Its compression level maps 0..1 linearly onto the
    MPEG bitrate range, 160..8 kbps below 32 kHz (MPEG-2) and 320..32 kbps from 32 kHz (MPEG-1),
    and 1.0 itself is refused."""
    import soundfile as sf

    low, high = (8, 160) if sample_rate < 32000 else (32, 320)
    level = min(0.99, max(0.0, (high - kbps) / (high - low)))
    sf.write(str(path), np.asarray(audio, dtype=np.float32), sample_rate, format="MP3",
             subtype="MPEG_LAYER_III", compression_level=level, bitrate_mode="CONSTANT")


def _render(clip: Clip, encoder: str = "sox") -> str | None:
    """Worker: write one clip; return an error line instead of raising so one clip never stops the run."""
    try:
        audio, sr = synthesize(clip)
        write_mp3_atomic(Path(clip.path), audio, sr, encoder)
        return None
    except Exception as exc:  # noqa: BLE001 - reported per clip, the rest of the corpus goes on
        return f"{clip.path}: {type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------- corpus driver

def _write_metadata(layout: str, out: Path, rows: list[list[str]]) -> Path:
    if layout == "saa":
        path, header, delimiter, quoting = out / SAA_METADATA, SAA_HEADER, ",", csv.QUOTE_MINIMAL
    else:
        path, header, delimiter, quoting = out / CV_VALIDATED, CV_HEADER, "\t", csv.QUOTE_NONE
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buf.getvalue())
    return path


def generate_corpus(layout: str, out_dir: str | Path, speakers_per_accent: int | None = None, seed: int = 0,
                    workers: int | None = None, accents: list[str] | None = None, executor: str = "processes",
                    scheduler: str | None = None) -> Path:
    """Write a synthetic corpus in the real ``saa`` or ``cv`` layout under ``out_dir``; return ``out_dir``.

    Rerunning resumes (clips already on disk are skipped); with the same parameters on a finished
    corpus it does nothing. A folder generated with other parameters is refused rather than mixed.
    """
    if layout not in LAYOUTS:
        raise AccentError(f"unknown layout {layout!r}: choose saa or cv")
    encoder = check_tools()
    out = Path(out_dir).expanduser().resolve()
    counts = speaker_counts(layout, speakers_per_accent, accents)
    params = {"generator_version": GENERATOR_VERSION, "layout": layout, "seed": int(seed), "speakers": counts}
    params_path = out / PARAMS_FILE
    if params_path.is_file():
        previous = json.loads(params_path.read_text())
        if {k: previous.get(k) for k in params} != params:
            raise AccentError(f"{out} already holds a synthetic corpus made with other parameters ({params_path}): "
                              "choose another --out or delete that folder")
        if previous.get("complete"):
            return out
    audio_dir = out / (SAA_RECORDINGS if layout == "saa" else CV_CLIPS)
    audio_dir.mkdir(parents=True, exist_ok=True)
    _write_json(params_path, params | {"complete": False, "mp3_encoder": encoder})

    clips, rows = (plan_saa if layout == "saa" else plan_cv)(out, counts, seed)
    todo = [c for c in clips if not Path(c.path).is_file()]
    failures = _render_all(todo, workers, f"synth {layout}", encoder, executor, scheduler)
    if failures:
        for line in failures[:10]:
            print(f"synth: skipped {line}", file=sys.stderr)
        raise AccentError(f"{len(failures)} of {len(clips)} clips failed in {out} (first: {failures[0]}); "
                          "rerun to retry them")
    _write_metadata(layout, out, rows)
    _write_json(params_path, params | {"complete": True, "n_clips": len(clips), "mp3_encoder": encoder})
    return out


def _render_all(clips: list[Clip], workers: int | None, desc: str, encoder: str = "sox",
                executor: str = "processes", scheduler: str | None = None) -> list[str]:
    """Render every clip (in this process for one local worker, else on the executor); the failures."""
    render = partial(_render, encoder=encoder)
    workers = max(1, workers or os.cpu_count() or 1)
    bar = tqdm(total=len(clips), desc=desc, unit="clip", file=sys.stderr, disable=not clips)
    failures: list[str] = []
    if workers == 1 and executor == "processes":
        for err in map(render, clips):
            failures += [err] if err else []
            bar.update()
    else:
        with open_executor(executor, scheduler, workers) as pool:
            for err in map_ordered(pool, render, clips, chunksize=2):
                failures += [err] if err else []
                bar.update()
    bar.close()
    return failures


def _write_json(path: Path, obj: dict) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------- command line

def run_synth(args: argparse.Namespace) -> int:
    out = generate_corpus(args.layout, args.out, speakers_per_accent=args.speakers_per_accent, seed=args.seed,
                          workers=args.workers, accents=args.accents.split(",") if args.accents else None,
                          executor=args.executor, scheduler=args.scheduler)
    print(f"synthetic {args.layout} corpus ready in {out}")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("synth", help="generate a synthetic accented-speech corpus in the SAA or Common Voice layout",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--layout", required=True, choices=sorted(LAYOUTS), help="saa: speakers_all.csv + recordings/; "
                   "cv: validated.tsv + clips/")
    p.add_argument("--out", required=True, help="output folder (created; rerun to resume)")
    p.add_argument("--speakers-per-accent", type=int, default=None,
                   help="speakers for every accent (default: the layout's imbalanced table)")
    p.add_argument("--accents", default=None, help="comma-separated subset of accents (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all CPU cores)")
    add_executor_options(p, shards=False)
    p.set_defaults(func=run_synth)
