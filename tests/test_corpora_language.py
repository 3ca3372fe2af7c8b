"""A translation without the paragraphs it left in English: those go, its own paragraphs and
the language-less ones (commands, tables of names) stay, spacing as it was."""

from __future__ import annotations

import pytest

from conductor.corpora._language import is_in
from conductor.corpora._recipe import without_paragraphs

FRENCH = "    Vous pouvez modifier le fichier de configuration avec votre éditeur préféré."
ENGLISH = "    This section has not been translated yet: it is kept as the original text."
COMMAND = "    $ sudo apt-get install vim\n    $ vim /etc/fstab"
GERMAN = "    Die Datei wird beim Start des Systems gelesen und kann von Hand geändert werden."
QUOTING = '    Siehe "The Linux kernel user\'s guide" und das Handbuch der Distribution.'


def _without_english(text: str, own: str) -> tuple[str, int]:
    return without_paragraphs(text, lambda paragraph: is_in(paragraph, "en", own))


def test_english_paragraphs_go_and_the_others_stay_with_their_spacing() -> None:
    text = f"1.2. Titre\n\n{FRENCH}\n\n{ENGLISH}\n\n{COMMAND}\n \n\n{FRENCH}\n"
    kept, dropped = _without_english(text, "fr")
    assert dropped == 1
    assert kept == f"1.2. Titre\n\n{FRENCH}\n\n{COMMAND}\n \n\n{FRENCH}\n"


def test_a_paragraph_of_its_own_language_that_quotes_english_stays() -> None:
    assert is_in(ENGLISH, "en", "de") and not is_in(QUOTING, "en", "de")
    kept, dropped = _without_english(f"{GERMAN}\n\n{QUOTING}\n\n{ENGLISH}", "de")
    assert (kept, dropped) == (f"{GERMAN}\n\n{QUOTING}", 1)


def test_an_english_opening_paragraph_goes_without_leaving_a_gap() -> None:
    assert _without_english(f"{ENGLISH}\n\n{FRENCH}", "fr") == (FRENCH, 1)


def test_commands_are_in_no_language() -> None:
    assert not is_in(COMMAND, "en", "fr") and not is_in(COMMAND, "fr", "en")


def test_a_language_it_does_not_know_is_an_error() -> None:
    with pytest.raises(ValueError, match="languages known here: en, fr, de"):
        is_in(FRENCH, "en", "it")
