"""ABC tunes as music: headers, bars split from a symbol stream, timed notes, validity, MIDI, WAV.

One module per part: `header` (the tune header, `MusicError`), `bars` (bar splitting),
`timing` (music21's reading: timed notes, meter fit, tune checks), `render` (MIDI and WAV),
`form` (bars, parts, repeats, the final note), `abc2midi` (an independent reading: abcmidi's),
`notation` (one notation for every style: L:1/8, no marks that are no music), `chords`
(chord names, chord grids, voicings), `harmony` (strong-beat chord tones).

The engine writes ABC one character at a time; this module turns that text into music:

- `TuneHeader`: the fields a user chooses to start a tune (meter `M:`, unit `L:`, key `K:`,
  optional title), checked, and written the way the corpora write them;
- `BarSplitter`: fed symbols as they are generated, it returns each bar as soon as its bar line
  is written, follows inline field changes (`K:G` on its own line, `[K:G]`) and notices the end
  of a tune (a blank line, as between the corpora's tunes);
- `bar_notes`: one bar parsed by music21 with the tune's header as context → `Note`s with onsets
  and durations in seconds at a tempo. A bar music21 cannot read is reported, never raised;
- `check_tune`: does music21 parse a whole tune, and how many bars have the meter's length;
- `write_midi` / `render_wav`: a tune to a Standard MIDI File (music21) and to audio (FluidSynth
  with a General MIDI soundfont; a missing program is a one-line `DependencyError`).
"""

from __future__ import annotations

from conductor.music.abc2midi import Abc2MidiCheck, abc2midi_check
from conductor.music.bars import (
    BarSplitter,
    close_bar,
    doubles_bar_line,
    ends_tied,
    opens_section,
    plain_bar,
    playable,
    tune_body,
    well_formed,
)
from conductor.music.chords import ChordGrid, chord_pitch_classes, chord_prefix, chords_in
from conductor.music.form import Form, TuneForm, corpus_form, tonic_pitch_class, tune_form
from conductor.music.harmony import ChordTones, bar_chord_tones, keeps_to, tune_chord_tones
from conductor.music.header import MusicError, TuneHeader
from conductor.music.notation import normalise_tune
from conductor.music.render import DEFAULT_SOUNDFONT, PEAK_DBFS, render_wav, write_midi
from conductor.music.timing import Bar, TuneCheck, bar_notes, check_tune, fits_meter
from conductor.notes import Note

__all__ = [
    "DEFAULT_SOUNDFONT",
    "PEAK_DBFS",
    "Abc2MidiCheck",
    "Bar",
    "BarSplitter",
    "ChordGrid",
    "ChordTones",
    "Form",
    "MusicError",
    "Note",
    "TuneCheck",
    "TuneForm",
    "TuneHeader",
    "abc2midi_check",
    "bar_chord_tones",
    "bar_notes",
    "check_tune",
    "chord_pitch_classes",
    "chord_prefix",
    "chords_in",
    "close_bar",
    "corpus_form",
    "doubles_bar_line",
    "ends_tied",
    "fits_meter",
    "keeps_to",
    "normalise_tune",
    "opens_section",
    "plain_bar",
    "playable",
    "render_wav",
    "tonic_pitch_class",
    "tune_body",
    "tune_chord_tones",
    "tune_form",
    "well_formed",
    "write_midi",
]
