"""User-facing errors.

Every error a user can cause (a wrong file, a bad flag, a corrupt checkpoint, a missing package)
is a `ConductorError` whose message is one line that says what is wrong and what to do. The CLI
prints it and exits 2; anything else that escapes is a programmer error and may traceback.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConductorError",
    "CorpusError",
    "DependencyError",
    "VocabError",
]


class ConductorError(Exception):
    """A problem the user can fix. `str(error)` is one line that says what to do."""

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message would read like a traceback in a terminal.
        super().__init__(" ".join(message.split()))


class VocabError(ConductorError):
    """Text or a checkpoint does not fit the symbol table."""


class CorpusError(ConductorError):
    """A corpus file is missing, empty or too small to split."""


class CheckpointError(ConductorError):
    """A checkpoint is missing, truncated, corrupt, of another version or vocabulary."""


class DependencyError(ConductorError):
    """A package or program that a recipe or tool needs is not installed."""
