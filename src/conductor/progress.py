"""Progress of long work: the library reports it, the CLI draws it.

A `Progress` is called with a task's description, how much of it is done and its total (in any
unit: chunks, samples, styles); a new description is a new task. The library never draws.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

__all__ = ["Progress", "labelled", "silent", "within"]

Progress: TypeAlias = Callable[[str, float, float], None]  # (task, done, total)


def silent(task: str, done: float, total: float) -> None:
    """A `Progress` that shows nothing (the default everywhere)."""


def within(progress: Progress, task: str, offset: float, total: float) -> Progress:
    """A `Progress` for one part of a larger task: the part's own (done, of) is reported as
    `offset + done / of` units of `task`, out of `total`."""

    def report(_: str, done: float, of: float) -> None:
        progress(task, offset + (done / of if of else 1.0), total)

    return report


def labelled(progress: Progress, label: str) -> Progress:
    """A `Progress` whose tasks are `progress`'s, named "LABEL: TASK" (one run of many)."""

    def report(task: str, done: float, total: float) -> None:
        progress(f"{label}: {task}", done, total)

    return report
