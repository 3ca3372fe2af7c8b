"""Which language a paragraph is written in, told by its commonest words.

A translated manual leaves some sections in the language it was written in; a style of French
technical prose should not learn English from them. Function words ("the", "of", "le", "der")
are what tells languages apart in a few lines of text, and they are the words a paragraph of
commands, paths or tables has few of, so such paragraphs are kept whatever their language.
"""

from __future__ import annotations

import re

__all__ = ["STOPWORDS", "is_in"]


def _words(line: str) -> frozenset[str]:
    return frozenset(line.split())


# Words that are common in one language and not words of the others here ("on" is French and
# English, "also" and "was" German and English: none of them is listed).
STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the and of to is are this that with for you your it be can by which as from not an or "
        "if use used using these has have its were will into such than then when may should "
        "some other only there their they all but"
    ),
    "fr": _words(
        "le la les de des du un une et est sont pour dans avec que qui sur par ce cette ces "
        "vous votre vos pas ne au aux il elle plus peut être sous ou se en si son sa ses leur"
    ),
    "de": _words(
        "der die das den dem des ein eine einen einem und ist sind für mit von zu auf sie es "
        "nicht auch wird werden kann können oder wenn sich im bei als wie aus nach dass diese "
        "dieser ihr ihre man"
    ),
}
_WORD = re.compile(r"[^\W\d_]+")  # a run of letters, accented ones too
# A paragraph is in `other` when it holds at least this many of its function words and more
# than this many times as many as of the text's own language.
_AT_LEAST = 2
_TIMES = 3


def is_in(paragraph: str, other: str, own: str) -> bool:
    """Whether `paragraph` of a text in language `own` is written in language `other`: many
    more of `other`'s function words than of `own`'s. A paragraph with few function words of
    either (commands, a list of names, paths) is not."""
    if other not in STOPWORDS or own not in STOPWORDS:
        raise ValueError(f"languages known here: {', '.join(STOPWORDS)}")
    words = _WORD.findall(paragraph.lower())
    theirs = sum(word in STOPWORDS[other] for word in words)
    ours = sum(word in STOPWORDS[own] for word in words)
    return theirs >= _AT_LEAST and theirs > _TIMES * ours
