"""A tune to sound: a Standard MIDI File (music21; its chord symbols as a guitar under the
melody) and audio (FluidSynth with a General MIDI
soundfont; a missing program is a one-line `DependencyError`). Files are written whole or not
at all."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

from conductor.errors import DependencyError
from conductor.music.chords import chord_spans
from conductor.music.header import MusicError
from conductor.music.timing import ACCOMPANIMENT_VELOCITY, load_music21, parse_abc

__all__ = ["DEFAULT_SOUNDFONT", "PEAK_DBFS", "render_wav", "write_midi"]

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
_FLUID_INSTALL = "apt-get install fluidsynth fluid-soundfont-gm"


def write_midi(tune: str, path: Path, tempo: float = 120.0) -> Path:
    """An ABC tune as a Standard MIDI File at `tempo` quarter notes a minute (written whole)."""
    music21 = load_music21()
    score = parse_abc(tune)
    score = _played_out(score, music21)
    for old in score.recurse().getElementsByClass("MetronomeMark"):
        old.activeSite.remove(old)
    first = score.parts[0] if score.parts else score
    first.insert(0, music21.tempo.MetronomeMark(number=tempo))
    _accompany(score, music21)
    path = Path(path)
    with tempfile.TemporaryDirectory(dir=path.parent if path.parent.exists() else None) as tmp:
        scratch = Path(tmp) / "tune.mid"
        try:
            score.write("midi", fp=str(scratch))
        except Exception as error:
            raise MusicError(f"music21 cannot write this tune as MIDI: {error}") from error
        scratch.replace(path)
    return path


def _played_out(score: Any, music21: Any) -> Any:
    """The score with each part's repeats played out (as music21's MIDI writer would do on its
    own), so that the accompaniment, built from it, follows them."""
    played = music21.stream.Score()
    for part in score.parts:
        with suppress(Exception):  # repeats music21 cannot expand are played as written
            part = part.expandRepeats()
        for measure in part.getElementsByClass("Measure"):  # played out: marks no more
            for side in ("leftBarline", "rightBarline"):
                if isinstance(getattr(measure, side), music21.bar.Repeat):
                    setattr(measure, side, None)
        played.insert(0, part)
    return played


def _accompany(score: Any, music21: Any) -> None:
    """The tune's chord symbols as an accompaniment part (a guitar, softer than the melody):
    each chord from its place until the next, struck again at each bar line. music21 would write
    each symbol as a chord of no length; they are taken out of the melody's part."""
    flat = score.flatten()
    symbols = [(float(cs.offset), str(cs.figure)) for cs in flat.getElementsByClass("ChordSymbol")]
    for old in list(score.recurse().getElementsByClass("ChordSymbol")):
        old.activeSite.remove(old)
    if not symbols:
        return
    end = float(flat.highestTime)
    spans = chord_spans(symbols, end)  # a name this does not know: silence until the next
    measures = list(score.parts[0].getElementsByClass("Measure")) if score.parts else []
    bars = [(float(m.offset), float(m.offset + m.duration.quarterLength)) for m in measures]
    part = music21.stream.Part()
    part.insert(0, music21.instrument.AcousticGuitar())
    for start, stop in bars or [(0.0, end)]:
        holder = music21.stream.Measure() if bars else part
        for onset, until, _, pitches in spans:
            begin, finish = max(onset, start), min(until, stop)
            if finish <= begin:
                continue
            chord = music21.chord.Chord(list(pitches))
            chord.quarterLength = finish - begin
            chord.volume.velocity = ACCOMPANIMENT_VELOCITY
            holder.insert(begin - (start if bars else 0.0), chord)
        if bars:
            part.insert(start, holder)
    score.insert(0, part)


def render_wav(
    midi: Path, wav: Path, soundfont: Path = DEFAULT_SOUNDFONT, rate: int = 44100
) -> Path:
    """Render a MIDI file to a 16-bit WAV with FluidSynth (written whole, or not at all)."""
    program = shutil.which("fluidsynth")
    if program is None:
        raise DependencyError(f"WAV output needs FluidSynth; run: {_FLUID_INSTALL}")
    if not Path(soundfont).exists():
        raise DependencyError(f"no soundfont at {soundfont}; run: {_FLUID_INSTALL}")
    wav = Path(wav)
    scratch = wav.with_name(f".{wav.name}.tmp")
    command = [program, "-ni", "-q", "-F", str(scratch), "-T", "wav", "-r", str(rate)]
    result = subprocess.run(
        [*command, str(soundfont), str(midi)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not scratch.exists() or scratch.stat().st_size <= 44:
        scratch.unlink(missing_ok=True)
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise MusicError(f"FluidSynth could not render {midi}: {reason[-1] if reason else '?'}")
    try:
        _normalise(scratch, PEAK_DBFS)
        scratch.replace(wav)
    finally:
        scratch.unlink(missing_ok=True)
    return wav


PEAK_DBFS = -1.0  # rendered audio is scaled so its loudest sample sits here


def _normalise(path: Path, peak_dbfs: float) -> None:
    """Scale a 16-bit WAV in place so its peak is `peak_dbfs` (FluidSynth renders one piano
    at about -25 dBFS: far quieter than anything else a listener plays)."""
    import wave

    with wave.open(str(path), "rb") as source:
        params = source.getparams()
        frames = source.readframes(params.nframes)
    if params.sampwidth != 2 or not frames:
        return
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    peak = float(np.abs(samples).max())
    if peak == 0:
        return
    gain = (32767 * 10 ** (peak_dbfs / 20)) / peak
    scaled = np.clip(np.round(samples * gain), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as target:
        target.setparams(params)
        target.writeframes(scaled.tobytes())
