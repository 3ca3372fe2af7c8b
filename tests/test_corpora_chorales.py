"""The chorale recipe: Bach's four-part chorales (music21's corpus) as melody + chord symbols."""

from __future__ import annotations

import pytest

from conductor.corpora import RECIPES
from conductor.corpora.chorales import TRANSPOSITIONS, read_chorale
from conductor.music import TuneHeader, abc2midi_check, check_tune, chords_in, tune_chord_tones
from conductor.music.timing import load_music21


@pytest.fixture(scope="module")
def chorale() -> object:
    music21 = load_music21()
    score = music21.corpus.parse("bach/bwv10.7")  # G minor, 4/4
    read = read_chorale(score, "Chorale BWV10.7")
    assert read is not None
    return read


def test_a_chorale_is_its_melody_with_bachs_chord_at_every_downbeat(chorale: object) -> None:
    tune = chorale.abc(1)  # type: ignore[attr-defined]
    header = TuneHeader.parse(tune)
    assert (header.meter, header.unit, header.key) == ("4/4", "1/8", "Gm")
    lines = tune.splitlines()
    assert lines[:5] == ["X:1", "T:Chorale BWV10.7", "M:4/4", "L:1/8", "K:Gm"]
    bars = [b for b in " ".join(lines[5:]).split("|") if b.strip(" ]")]
    assert all(len(chords_in(b)) == 1 for b in bars)  # one chord a bar, before its notes
    assert lines[5].startswith('"Gm"d4 f4 |')  # the soprano's first notes, on G minor
    check = check_tune(tune)
    assert check.parsed and check.full_bars == check.bars
    assert abc2midi_check(tune).ok
    # the melody keeps to Bach's harmony on most strong beats, not all (passing notes)
    assert 0.6 < tune_chord_tones(tune).share < 1.0


def test_a_chorale_is_written_in_twelve_keys_that_sound_the_same_music(chorale: object) -> None:
    keys = set()
    shares = set()
    for shift in TRANSPOSITIONS:
        tune = chorale.abc(1, shift)  # type: ignore[attr-defined]
        assert tune is not None and check_tune(tune).parsed
        keys.add(TuneHeader.parse(tune).key)
        shares.add(round(tune_chord_tones(tune).share, 6))
    assert len(keys) == 12  # every key once
    assert len(shares) == 1  # the same melody over the same harmony, in each


def test_the_recipe_is_registered_with_its_source_and_licence() -> None:
    recipe = RECIPES["abc_chorales"]
    assert recipe.locate().name == "bach"
    assert "Bach" in recipe.description and "music21" in recipe.licence
