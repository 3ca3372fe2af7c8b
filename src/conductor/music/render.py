"""A tune to sound: a Standard MIDI File (music21) and audio (FluidSynth with a General MIDI
soundfont; a missing program is a one-line `DependencyError`). Files are written whole or not
at all."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from conductor.errors import DependencyError
from conductor.music.header import MusicError
from conductor.music.timing import load_music21, parse_abc

__all__ = ["DEFAULT_SOUNDFONT", "PEAK_DBFS", "render_wav", "write_midi"]

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
_FLUID_INSTALL = "apt-get install fluidsynth fluid-soundfont-gm"


def write_midi(tune: str, path: Path, tempo: float = 120.0) -> Path:
    """An ABC tune as a Standard MIDI File at `tempo` quarter notes a minute (written whole)."""
    music21 = load_music21()
    score = parse_abc(tune)
    for old in score.recurse().getElementsByClass("MetronomeMark"):
        old.activeSite.remove(old)
    first = score.parts[0] if score.parts else score
    first.insert(0, music21.tempo.MetronomeMark(number=tempo))
    path = Path(path)
    with tempfile.TemporaryDirectory(dir=path.parent if path.parent.exists() else None) as tmp:
        scratch = Path(tmp) / "tune.mid"
        try:
            score.write("midi", fp=str(scratch))
        except Exception as error:
            raise MusicError(f"music21 cannot write this tune as MIDI: {error}") from error
        scratch.replace(path)
    return path


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
